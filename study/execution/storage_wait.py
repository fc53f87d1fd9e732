"""Waiting at start for a database that is not up yet.

Compose, SLURM arrays and Kubernetes may start workers before their PostgreSQL answers. A worker
that finds its server unreachable (refused, timed out, unknown host, starting up) waits for it,
with backoff, for at most the storage-outage setting: one line when it begins to wait and one
when it connects. Any other storage error (a wrong password, a missing database) ends it at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

from storage import StorageUnreachable, redact_url
from study.defaults import STORAGE_OUTAGE_ENV
from study.errors import UserError

T = TypeVar("T")
MAX_PAUSE_S = 5.0  # between tries once the wait has gone on a while


def open_when_reachable(open_: Callable[[], T], url: str, limit_s: float) -> T:
    """`open_()`, tried again while the storage is unreachable, for at most `limit_s` seconds."""
    where = redact_url(url)
    deadline: float | None = None
    pause = 0.5
    while True:
        try:
            opened = open_()
        except StorageUnreachable as exc:
            now = time.monotonic()
            if deadline is None:
                deadline = now + limit_s
                print(f"waiting up to {limit_s:.0f} s for the storage {where}: {exc}",
                      file=sys.stderr, flush=True)
            if now >= deadline:
                raise UserError(f"the storage {where} did not answer within {limit_s:.0f} s "
                                f"({exc}); start the database server, or raise "
                                f"--storage-outage / {STORAGE_OUTAGE_ENV}") from None
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, MAX_PAUSE_S)
            continue
        if deadline is not None:
            print(f"storage {where} answers; going on", file=sys.stderr, flush=True)
        return opened
