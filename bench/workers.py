"""Benchmark 4: worker scaling and storage overhead with the mocked objective.

For each storage (a throwaway PostgreSQL on 127.0.0.1 started with `tests.postgres_cluster`, and
an SQLite file) and each worker count, the service's own commands run:
`python -m study create --objective mock --pruner none` then
`python -m study worker --devices cpu --per-device K` with STUDY_MOCK_DELAY (seconds of sleep per
trial, spread over 10 reported epochs). The mock sleeps, so the figures measure coordination
(storage, sampler, bookkeeping), not compute — the 2-core machine could not run 8 trainings.

Measured from the stored trials, in the steady-state window when every worker is running (from
the last worker's first trial start to the first worker's last trial end), so process start-up
and the budget's tail do not count:
- trials/s: finished trials that started and ended inside the window ÷ its length;
- overhead s/trial: worker-seconds per finished trial minus the objective's sleep — the storage
  round trips (create, 10 reports + should_prune, user attributes, finish) plus TPE sampling;
- in-trial overhead s: the part of it between the trial's start and end (reports, attributes);
- worker CPU s/trial: CPU seconds used by the worker processes (start-up included; the database
  server's own CPU not) per finished trial. K workers need about K × this ÷ (delay + overhead)
  cores; when the machine has fewer free, workers queue for the CPU and the scaling flattens.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from optuna.samplers import BaseSampler

from bench.common import REPO, section, table, update_section


def _study(args: list[str], env: dict[str, str], timeout: float) -> None:
    proc = subprocess.run([sys.executable, "-m", "study", *args], check=False, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m study {args[0]} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:]}")


def measure(url: str, workers: int, *, per_worker: int, delay: float, tmp: Path) -> dict:
    import optuna

    from storage import open_storage

    name = f"bench-scaling-{workers}-{int(time.time() * 1000) % 10**8}"
    n_trials = per_worker * workers
    # The URL travels in the environment: a password on a command line is visible in `ps`.
    env = {**os.environ, "STUDY_MOCK_DELAY": str(delay), "STUDY_STORAGE": url}
    common = ["--study", name, "--objective", "mock", "--data", "synthetic",
              "--profile", "quick", "--cache-dir", str(tmp / "cache"),
              "--model-dir", str(tmp / "models")]
    _study(["create", *common, "--pruner", "none", "--n-trials", str(n_trials)], env, 120)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    _study(["worker", *common, "--devices", "cpu", "--per-device", str(workers), "--threads", "1",
            "--quiet"], env, 600)
    command_wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    study = optuna.load_study(study_name=name, storage=open_storage(url, heartbeat_interval=None))
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()
              and t.datetime_start and t.datetime_complete]
    return {"workers": workers, **steady_state(trials, delay), "command wall s": command_wall,
            "worker CPU s/trial": cpu / len(trials)}


def steady_state(trials: list, delay: float) -> dict:
    """Rates of finished `trials` in the window when every worker that ran one was running."""
    by_worker: dict[str, list] = defaultdict(list)
    for t in trials:
        by_worker[t.user_attrs.get("worker", "?")].append(t)
    begin = max(min(t.datetime_start for t in ts) for ts in by_worker.values())
    end = min(max(t.datetime_complete for t in ts) for ts in by_worker.values())
    window = (end - begin).total_seconds()
    inside = [t for t in trials if t.datetime_start >= begin and t.datetime_complete <= end]
    if window <= 0 or not inside:  # too short to have a steady state: use everything
        begin = min(t.datetime_start for t in trials)
        end = max(t.datetime_complete for t in trials)
        window, inside = (end - begin).total_seconds(), trials
    rate = len(inside) / window
    in_trial = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in inside) \
        / len(inside)
    return {"finished": len(trials), "workers seen": len(by_worker), "window s": window,
            "trials/s": rate, "overhead s/trial": len(by_worker) / rate - delay,
            "in-trial overhead s": in_trial - delay}


class TimedSampler(BaseSampler):
    """The study's sampler with every call timed: `seconds` sums them (composition, not a patch)."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, method, *args):  # type: ignore[no-untyped-def]
        begun = time.perf_counter()
        try:
            return method(*args)
        finally:
            self.seconds += time.perf_counter() - begun

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self._timed(self.inner.infer_relative_search_space, study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        return self._timed(self.inner.sample_relative, study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore
        return self._timed(self.inner.sample_independent, study, trial, param_name,
                           param_distribution)

    def before_trial(self, study, trial) -> None:  # type: ignore[no-untyped-def]
        self._timed(self.inner.before_trial, study, trial)

    def after_trial(self, study, trial, state, values) -> None:  # type: ignore[no-untyped-def]
        self._timed(self.inner.after_trial, study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class StorageTimer:
    """SQL statements and commits of one engine, counted and timed through SQLAlchemy's events.

    A statement runs from `before_cursor_execute` to `after_cursor_execute` (the database's answer
    included); a commit (SQLite's fsync, PostgreSQL's round trip) from the connection's `commit`
    event to the session's `after_commit`, in the same thread (heartbeats commit from their own).
    """

    def __init__(self) -> None:
        self.statements, self.statement_seconds = 0, 0.0
        self.commits, self.commit_seconds = 0, 0.0
        self._commit_began: dict[int, float] = {}

    def before_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements += 1
        self.statement_seconds += time.perf_counter() - conn.info.pop("bench_started")

    def before_commit(self, conn) -> None:
        self.commits += 1
        self._commit_began[threading.get_ident()] = time.perf_counter()

    def after_commit(self, session) -> None:
        began = self._commit_began.pop(threading.get_ident(), None)
        if began is not None:
            self.commit_seconds += time.perf_counter() - began

    @contextlib.contextmanager
    def listening(self, engine) -> Iterator[StorageTimer]:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        hooks = [(engine, "before_cursor_execute", self.before_execute),
                 (engine, "after_cursor_execute", self.after_execute),
                 (engine, "commit", self.before_commit),
                 (Session, "after_commit", self.after_commit)]
        for target, name, hook in hooks:
            event.listen(target, name, hook)
        try:
            yield self
        finally:
            for target, name, hook in hooks:
                event.remove(target, name, hook)


def statement_profile(url: str, *, trials: int, tmp: Path) -> dict:
    """One in-process worker, mock objective without sleep: what a trial costs the storage.

    Counts the SQL statements and commits per trial and times them (`StorageTimer`: the storage
    time per trial, the database's answer included); times the sampler's calls (the service's
    per-trial seeded TPE, which also reads trials through the storage); and the whole per-trial
    time (the rest: ORM, Optuna's bookkeeping, the mock).
    """

    import logging

    import optuna

    from objectives import ObjectiveContext, TrialSpec, get_profile
    from objectives.mock import MockObjective
    from study import defaults
    from study.search.pruner import build_pruner, pruner_spec
    from study.search.sampler import TrialSeededSampler
    from study.service import Heartbeat, open_study_storage

    optuna.logging.set_verbosity(logging.WARNING)
    # Heartbeats as the workers run them: the service's settings (and STUDY_HEARTBEAT_* if set,
    # which the measured workers inherit too).
    storage = open_study_storage(url, heartbeat=Heartbeat(*defaults.heartbeat()))
    sampler = TimedSampler(TrialSeededSampler(0))
    profile = get_profile("quick")
    study = optuna.create_study(storage=storage, study_name=f"bench-statements-{time.time_ns()}",
                                direction="maximize", sampler=sampler,
                                pruner=build_pruner(pruner_spec("none", profile.train.max_epochs)))
    ctx = ObjectiveContext(spec=TrialSpec(data="synthetic", profile=profile),
                           study_name=study.study_name, cache_dir=tmp / "cache",
                           model_dir=tmp / "models", mock_delay=0.0)
    objective = MockObjective(ctx)
    study.optimize(objective, n_trials=3)  # warm-up: connections, imports, first sampling
    sampled_before = sampler.seconds
    with StorageTimer().listening(storage.engine) as timer:
        started = time.perf_counter()
        study.optimize(objective, n_trials=trials)
        wall = time.perf_counter() - started
    return {"statements/trial": timer.statements / trials,
            "commits/trial": timer.commits / trials,
            "SQL ms/trial": 1000 * timer.statement_seconds / trials,
            "commit ms/trial": 1000 * timer.commit_seconds / trials,
            "storage ms/trial": 1000 * (timer.statement_seconds + timer.commit_seconds) / trials,
            "TPE ms/trial": 1000 * (sampler.seconds - sampled_before) / trials,
            "total ms/trial": 1000 * wall / trials}


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child (the launcher and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"],
                        choices=["postgresql", "sqlite"])
    parser.add_argument("--per-worker", type=int, default=20, help="trials per worker")
    parser.add_argument("--delay", type=float, default=0.5, help="STUDY_MOCK_DELAY, seconds")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every worker count; the best round is reported")
    parser.add_argument("--profile-trials", type=int, default=30,
                        help="trials of the in-process statement profile")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    profiles: list[dict] = []
    cluster = None
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            for backend in args.backends:
                if backend == "postgresql":
                    # Test scaffolding, importable because benches run from the repository
                    # root (`python -m bench.workers`), as `bench` itself needs.
                    from tests.postgres_cluster import PostgresCluster, find_pg_bin

                    if find_pg_bin() is None:
                        print("warning: no PostgreSQL server binaries; skipping postgresql",
                              file=sys.stderr)
                        continue
                    cluster = PostgresCluster()
                    cluster.start()
                profile_url = (cluster.create_database("bench_statements")
                               if backend == "postgresql"
                               else f"sqlite:///{tmp / 'bench_statements.db'}")
                profiles.append({"storage": backend, **statement_profile(
                    profile_url, trials=args.profile_trials, tmp=tmp)})
                print(f"  {profiles[-1]}", file=sys.stderr, flush=True)
                best: dict[int, dict] = {}
                for round_ in range(args.rounds):  # interleaved; the best round of each count
                    for workers in args.workers:
                        db = f"bench_{workers}_{round_}"
                        url = (cluster.create_database(db) if backend == "postgresql"
                               else f"sqlite:///{tmp / f'{db}.db'}")
                        row = {"storage": backend, **measure(url, workers,
                                                             per_worker=args.per_worker,
                                                             delay=args.delay, tmp=tmp)}
                        print(f"  round {round_ + 1}: {row}", file=sys.stderr, flush=True)
                        if workers not in best or row["trials/s"] > best[workers]["trials/s"]:
                            best[workers] = row
                rows += [best[w] for w in args.workers]
        finally:
            if cluster is not None:
                cluster.cleanup()
    for row in rows:
        one = next((r["trials/s"] for r in rows if r["storage"] == row["storage"]
                    and r["workers"] == 1), None)
        row["× 1 worker"] = row["trials/s"] / one if one else float("nan")
        row["efficiency"] = row["× 1 worker"] / row["workers"]
    columns = ["storage", "workers", "finished", "window s", "trials/s", "× 1 worker",
               "efficiency", "overhead s/trial", "in-trial overhead s", "worker CPU s/trial",
               "command wall s"]
    text = table(rows, columns) + "\n\nStorage cost of one trial (one in-process worker, mock " \
        "objective without sleep, 10 reports, heartbeats on):\n\n" + table(profiles)
    print(text)
    notes = []
    for backend in args.backends:
        eight = next((r for r in rows if r["storage"] == backend and r["workers"] == 8), None)
        if eight:
            met = "met" if eight["efficiency"] >= 0.8 else "NOT met"
            goal = f"; goal ≥ 80 %: {met}" if backend == "postgresql" else ""
            notes.append(f"{backend}: 8 workers give {eight['× 1 worker']:.2f}× the trials/s of "
                         f"one ({eight['efficiency']:.0%} of linear{goal}).")
    notes.append(f"Mock objective: {args.delay:g} s of sleep per trial over 10 reported epochs, "
                 f"no pruner, {args.per_worker} trials per worker, TPE (multivariate, constant "
                 f"liar) as the service configures it; best of {args.rounds} interleaved "
                 "round(s) per worker count.")
    print("\n".join(notes))
    if not args.no_write:
        update_section("workers", section("4. Worker scaling and storage overhead", "cpu", text,
                                          "\n".join(f"- {n}" for n in notes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
