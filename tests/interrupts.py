"""SIGTERM stops a test run the way Ctrl-C does, so that every finalizer runs.

Python dies at once on SIGTERM: no fixture finalizer runs, and a PostgreSQL cluster, network
namespaces or SLURM daemons outlive the run. Here SIGTERM (and SIGINT) become KeyboardInterrupt,
which pytest turns into an interrupted session that still tears every fixture down.

With xdist the controller runs no test: on the first SIGTERM or SIGINT it passes SIGTERM on to
its workers and waits for them (they end their sessions, finalizers included, and report the
interrupt); a second signal interrupts the controller itself, which then kills the workers after
xdist's 10 s (the reapers of `tests/reaper.py` clean up after a killed worker). A worker
interrupts once and then ignores further signals, so that a terminal's Ctrl-C, which reaches
every process of the run, and the controller's SIGTERM do not break its finalizers off.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import pytest

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install(config: pytest.Config) -> None:
    """The handlers for this pytest process: a worker, an xdist controller or a serial run."""
    if threading.current_thread() is not threading.main_thread():
        return  # pytest run from a thread (pytester): signals are not ours to handle
    if hasattr(config, "workerinput"):
        handler = _interrupt_once
    elif config.pluginmanager.getplugin("dsession") is not None:
        handler = _Forward(config.pluginmanager.getplugin("dsession")).__call__
    else:
        handler = _interrupt
    for signum in SIGNALS:
        signal.signal(signum, handler)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    for other in SIGNALS:
        # A handler, not SIG_IGN: processes started during teardown must not inherit "ignored".
        signal.signal(other, _ignore)
    _interrupt(signum, frame)


def _ignore(signum: int, frame: FrameType | None) -> None:
    return None


class _Forward:
    """The controller's handler: the first signal goes to the workers, the second is ours."""

    def __init__(self, dsession: object) -> None:
        self.dsession = dsession
        self.forwarded = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.forwarded:
            _interrupt(signum, frame)
        self.forwarded = True
        # xdist takes a worker that reports an interrupt for a crashed one and starts another in
        # its place (which would collect the suite again only to be shut down): no restarts now.
        # `--max-worker-restart` is only read when the controller starts, hence the attribute.
        self.dsession._max_worker_restart = 0  # type: ignore[attr-defined]
        for pid in _children():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue


def _children() -> list[int]:
    """This process's children (the controller starts none but its xdist workers)."""
    me = os.getpid()
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.append(int(stat.parent.name))
    return found
