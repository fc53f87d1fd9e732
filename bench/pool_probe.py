"""Which part of a process holds its database connections: a probe around one service command.

`python -m bench.pool_probe OUT.json -- worker ...` runs `python -m study worker ...` in this
process with SQLAlchemy pool and cursor events listened to (on the classes, so every engine the
command makes is seen), and writes to OUT.json what it saw: connections opened and the most open
at once (what the server counts), the most checked out at once by kind, which kinds were checked
out together, and the study lock's median wait and hold.

A checkout's kind comes from the call stack: the study lock (`storage.optuna_seam.lock`), Optuna's
heartbeat thread, Optuna's schema check when a storage is opened, the launcher's progress poll,
and every other storage call. Measurement only: the command runs unchanged.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# (function or file on the stack, kind), the first match wins
_KINDS = (("_cross_process_lock", "study lock"), ("_record_heartbeat", "heartbeat thread"),
          ("check_table_schema_compatibility", "schema check on open"),
          ("study/execution/progress.py", "progress poll"))
OTHER = "storage calls"
KINDS = tuple(kind for _, kind in _KINDS) + (OTHER,)


def kind_of_caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        for marker, kind in _KINDS:
            if code.co_name == marker or code.co_filename.endswith(marker):
                return kind
        frame = frame.f_back
    return OTHER


class PoolProbe:
    """Counts the connections of every SQLAlchemy pool in this process, by kind."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.opened = self.open = self.peak_open = 0
        self.out: dict[int, str] = {}  # id(connection record) → kind, while checked out
        self.peak_out = 0
        self.peak_by_kind: Counter = Counter()
        self.together: Counter = Counter()  # kinds checked out at once (2 or more)
        self.lock_waits: list[float] = []  # seconds until pg_advisory_lock answered
        self.lock_holds: list[float] = []  # seconds from then to pg_advisory_unlock
        self._lock_began: dict[int, float] = {}

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        for name, hook in (("connect", self._connect), ("close", self._close),
                           ("checkout", self._checkout), ("checkin", self._checkin)):
            event.listen(Pool, name, hook)
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _connect(self, dbapi_connection: Any, record: Any) -> None:
        with self._mutex:
            self.opened += 1
            self.open += 1
            self.peak_open = max(self.peak_open, self.open)

    def _close(self, dbapi_connection: Any, record: Any) -> None:
        with self._mutex:
            self.open -= 1

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        kind = kind_of_caller()
        with self._mutex:
            self.out[id(record)] = kind
            self.peak_out = max(self.peak_out, len(self.out))
            now = Counter(self.out.values())
            for name, count in now.items():
                self.peak_by_kind[name] = max(self.peak_by_kind[name], count)
            if len(self.out) > 1:
                self.together[" + ".join(sorted(self.out.values()))] += 1

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        with self._mutex:
            self.out.pop(id(record), None)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "pg_advisory_lock(" in statement:
            conn.info["probe_lock_asked"] = time.perf_counter()
        elif "pg_advisory_unlock(" in statement:
            began = self._lock_began.pop(id(conn), None)
            if began is not None:
                self.lock_holds.append(time.perf_counter() - began)

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        asked = conn.info.pop("probe_lock_asked", None)
        if asked is not None:
            now = time.perf_counter()
            self.lock_waits.append(now - asked)
            self._lock_began[id(conn)] = now

    def summary(self) -> dict[str, Any]:
        return {"opened": self.opened, "peak_open": self.peak_open, "peak_out": self.peak_out,
                "peak_by_kind": dict(self.peak_by_kind), "together": dict(self.together),
                "lock_acquired": len(self.lock_waits),
                "lock_wait_median_s": statistics.median(self.lock_waits or [0.0]),
                "lock_hold_median_s": statistics.median(self.lock_holds or [0.0])}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m bench.pool_probe OUT.json -- STUDY-COMMAND [ARGS...]",
              file=sys.stderr)
        return 2
    out, command = Path(argv[0]), argv[2:]
    probe = PoolProbe()
    probe.install()
    from study.cli import main as study_main

    try:
        return study_main(command)
    finally:
        out.write_text(json.dumps(probe.summary(), indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
