"""A worker's signals and logs: the first Ctrl-C or SIGTERM becomes KeyboardInterrupt (later ones
are ignored), interrupted trials are logged without a traceback, and a launched worker stops when
its launcher dies."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

import optuna

PARENT_POLL_S = 1.0  # how often a launched worker checks that its launcher still lives


interrupt_seen = threading.Event()


def raise_interrupt(signum: int, frame: Any) -> None:
    """The first Ctrl-C or SIGTERM becomes KeyboardInterrupt; later ones are ignored. Ctrl-C
    reaches a launched worker twice (from the terminal, then forwarded by the launcher), and a
    second interrupt inside the clean-up's database calls could leave the trial RUNNING, or a
    half-finished write holding SQLite's lock until the launcher kills the worker."""
    if interrupt_seen.is_set():
        return
    interrupt_seen.set()
    raise KeyboardInterrupt(f"signal {signum}")


class _InterruptWithoutTraceback(logging.Filter):
    """Optuna logs an interrupted trial as failed, with the traceback of the interrupt: on
    Ctrl-C every worker would print one. The line naming the trial stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(quiet: bool, debug: bool) -> None:
    optuna.logging.set_verbosity(logging.WARNING if quiet else logging.INFO)
    if debug:
        return
    for handler in logging.getLogger("optuna").handlers:  # Optuna's own, made just above
        if not any(isinstance(f, _InterruptWithoutTraceback) for f in handler.filters):
            handler.addFilter(_InterruptWithoutTraceback())


def watch_parent() -> None:
    """A launched worker whose launcher died (even by SIGKILL) stops like on SIGTERM."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
