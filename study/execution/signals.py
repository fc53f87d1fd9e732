"""A worker's signals and logs: the first Ctrl-C or SIGTERM becomes KeyboardInterrupt (later ones
are ignored), interrupted trials are logged without a traceback, Optuna's storage warnings in one
line, and a launched worker stops when its launcher dies."""

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


class _OneLineStorageWarnings(logging.Filter):
    """Optuna's words for two things a worker survives, each made one line (or left to the
    worker's own line):

    - a query that failed while the database restarted: Optuna's RDB storage logs SQLAlchemy's
      whole text (the SQL, its parameters, a link) and "Falling back to a slower alternative";
      the worker retries and says so itself, so one line naming the error is enough;
    - a late result: a trial this worker was still training was failed by another worker (no
      heartbeat for the grace period: a pause, a network cut) and re-queued; its next write is
      refused with UpdateFinishedTrialError, which Optuna logs as the trial failing, with a
      traceback, then "failed with value None". The worker says in one line what happened.
    """

    def __init__(self) -> None:
        super().__init__()
        self.late: set[str] = set()  # trials whose late result was refused

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Caught an error from sqlalchemy: "):
            cause = message.removeprefix("Caught an error from sqlalchemy: ")
            cause = cause.split("\n", 1)[0].split(" [SQL:", 1)[0].strip()
            record.msg = f"storage error while reading trials ({cause}); trying again"
            record.args = None
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, optuna.exceptions.UpdateFinishedTrialError) or (
                "UpdateFinishedTrialError(" in message and " failed with parameters" in message):
            self.late.add(message.split()[1])  # "Trial N failed ..."
            return False
        # Its follow-up, "Trial N failed with value None.", goes with it.
        return not (message.startswith("Trial ") and message.split()[1] in self.late
                    and " failed with value " in message)


def configure_logging(quiet: bool, debug: bool) -> None:
    optuna.logging.set_verbosity(logging.WARNING if quiet else logging.INFO)
    if debug:
        return
    for handler in logging.getLogger("optuna").handlers:  # Optuna's own, made just above
        if not any(isinstance(f, _InterruptWithoutTraceback) for f in handler.filters):
            handler.addFilter(_InterruptWithoutTraceback())
            handler.addFilter(_OneLineStorageWarnings())


def watch_parent() -> None:
    """A launched worker whose launcher died (even by SIGKILL) stops like on SIGTERM."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
