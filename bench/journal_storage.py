"""Benchmark 7: do the service's guarantees hold on Optuna's JournalStorage (a shared file)?

SLURM sites often have a shared file system but no database server, and Optuna offers
`JournalStorage(JournalFileBackend(path))` for exactly that. The service promises four things
across workers: a study-wide lock, heartbeats, a stale trial retried exactly once, and an exact
budget. Each round here starts WORKERS real processes on one study, kills one of them with
SIGKILL in the middle of a trial, lets the others finish, and counts what the study holds:

- `journal`: JournalStorage with what Optuna itself offers for a shared budget and retries
  (`MaxTrialsCallback`, `fail_stale_trials` before each trial, which needs heartbeats);
- `rdb`: the same plain-Optuna code on an RDBStorage (SQLite) with heartbeats and
  `RetryHeartbeatStaleTrialCallback`;
- `service`: the service's own storage and budget gate (`storage.open_storage`,
  `study.budget.budgeted`) on the same SQLite file type.

It also tries the service's study lock (`storage.study_lock`) on each storage.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, section, table, update_section

WORKERS, BUDGET, DELAY_S, HEARTBEAT_S, GRACE_S = 4, 12, 1.0, 1, 3
STUDY = "journal-bench"


def _storage(kind: str, path: str) -> Any:
    import optuna

    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if kind == "service":
        from storage import open_storage

        return open_storage(f"sqlite:///{path}", heartbeat_interval=HEARTBEAT_S,
                            grace_period=GRACE_S)
    return optuna.storages.RDBStorage(
        f"sqlite:///{path}", heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(3))


def child(kind: str, path: str) -> None:
    """One worker: trials of DELAY_S seconds (5 reported steps) until the budget is reached."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=STUDY, storage=_storage(kind, path))

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("pid", os.getpid())
        x = trial.suggest_float("x", 0, 1)
        for step in range(5):
            time.sleep(DELAY_S / 5)
            trial.report(x, step)
        return x

    budget = MaxTrialsCallback(BUDGET, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if kind == "service":
        from study.gate import PhaseDone
        from study.search.budget import budgeted

        gated = budgeted(study, BUDGET, time.monotonic() + 120, HEARTBEAT_S)
        try:
            gated.optimize(objective, callbacks=[budget])
        except PhaseDone:
            pass
    else:
        study.optimize(objective, callbacks=[budget])


def lock_outcome(kind: str, path: str) -> str:
    """What the service's study lock does on this storage."""
    import optuna

    from storage import study_lock

    study = optuna.load_study(study_name=STUDY, storage=_storage(kind, path))
    try:
        with study_lock(study):
            return "held"
    except Exception as exc:  # noqa: BLE001 - the outcome is the measurement
        return f"{type(exc).__name__}: {exc}"


def one_round(kind: str, directory: Path) -> dict:
    import optuna
    from optuna.storages._heartbeat import BaseHeartbeat  # what fail_stale_trials requires
    from optuna.trial import TrialState

    from storage import retried_from

    path = str(directory / ("study.log" if kind == "journal" else "study.db"))
    optuna.create_study(study_name=STUDY, storage=_storage(kind, path), direction="maximize")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "bench.journal_storage", "--child", kind,
                               path], env=env, cwd=REPO) for _ in range(WORKERS)]
    victim, killed = procs[0], None
    try:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            trials = optuna.load_study(study_name=STUDY, storage=_storage(kind, path)).trials
            killed = next((t for t in trials if t.state == TrialState.RUNNING
                           and t.user_attrs.get("pid") == victim.pid and t.intermediate_values),
                          None)
            time.sleep(0.1)
        victim.send_signal(signal.SIGKILL)
        for proc in procs[1:]:
            proc.wait(timeout=180)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    time.sleep(3 * GRACE_S)  # long past the grace period: a stale trial is stale by now
    study = optuna.load_study(study_name=STUDY, storage=_storage(kind, path))
    trials = study.trials
    states = {s: sum(t.state == s for t in trials) for s in TrialState}
    return {"storage": kind, "heartbeats": isinstance(study._storage, BaseHeartbeat),
            "finished": states[TrialState.COMPLETE] + states[TrialState.PRUNED],
            "budget": BUDGET, "RUNNING left": states[TrialState.RUNNING],
            "killed trial retried": sum(retried_from(t) == killed.number for t in trials)
            if killed else "not caught", "study lock": lock_outcome(kind, path)}


def optuna_version() -> str:
    import optuna

    return optuna.__version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update "
                        "BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    rows = []
    for round_ in range(args.rounds):
        for kind in ("journal", "rdb", "service"):
            with tempfile.TemporaryDirectory(prefix="journal-bench-") as tmp:
                row = {"round": round_ + 1, **one_round(kind, Path(tmp))}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    summary = []
    for kind in ("journal", "rdb", "service"):
        mine = [row for row in rows if row["storage"] == kind]
        exact = sum(row["finished"] == BUDGET for row in mine)
        stuck = sum(row["RUNNING left"] > 0 for row in mine)
        once = sum(row["killed trial retried"] == 1 for row in mine)
        summary.append(f"- {kind}: budget exact in {exact} of {len(mine)} rounds, a trial left "
                       f"RUNNING in {stuck}, the killed trial retried once in {once}; study lock "
                       f"{'taken' if mine[0]['study lock'] == 'held' else 'impossible'}.")
    notes = "\n".join(summary) + "\n" + (f"- {WORKERS} worker processes per round, one killed with SIGKILL in the middle of "
             f"a trial; trials of {DELAY_S:g} s in 5 reported steps; budget {BUDGET} finished "
             f"trials; heartbeat {HEARTBEAT_S} s, grace {GRACE_S} s where the storage has "
             "heartbeats; counted 3 grace periods after the last worker ended. The journal "
             "file lies on a local disk, standing in for a shared file system; Optuna "
             f"{optuna_version()}.")
    body = section("7. JournalStorage against the service's guarantees", "cpu", table(rows),
                   notes)
    print(body)
    if not args.no_write:
        update_section("journal", "## 8. JournalStorage on a shared file system\n\n" + body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
