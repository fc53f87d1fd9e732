"""Benchmark 7: database connections and throughput at 8, 16 and 32 workers; Optuna's gRPC proxy.

One throwaway PostgreSQL on 127.0.0.1 (`tests.postgres_cluster`), a fresh database per case, a
mocked study of the same size in every case (`--trials`, TPE as the service configures it, no
pruner, no replicate phase), and three ways for N worker processes to reach it:
- `service`: the service's own commands — `python -m study run --devices cpu --per-device N-1`
  (a launcher that polls progress) plus one `python -m study worker --per-device 1`, both inside
  `bench.pool_probe`, which says which part of the process held its connections;
- `bare`: N processes of a plain Optuna loop (`load_study`, the same mocked objective and
  sampler, `MaxTrialsCallback`) straight to PostgreSQL: no study lock, no heartbeats;
- `grpc`: the same loop through `optuna.storages.GrpcStorageProxy` to one
  `run_grpc_proxy_server` process (Optuna's default 10 threads, a pool of 10 connections).
The service cannot run through the proxy: its study lock and heartbeat SQL need the RDB engine
(`AttributeError: 'GrpcStorageProxy' object has no attribute 'engine'`), and Optuna enables
heartbeats only for storages that implement them, which the proxy does not.

Connections are counted on the server (`tests.postgres_connections`: `pg_stat_activity` every
50 ms, per client process); trials/s and overhead as in `bench.workers` (steady-state window).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench.common import REPO, section, table, update_section
from bench.workers import steady_state

MODES = ("service", "bare", "grpc")
PROXY_THREADS = 10  # run_grpc_proxy_server's default thread pool
STUDY = "bench-connections"
_TICKS = os.sysconf("SC_CLK_TCK")


def _py(*args: str) -> list[str]:
    return [sys.executable, *args]


def bare_worker(storage_arg: str, budget: int) -> int:
    """A plain Optuna worker on the study: the service's objective and sampler, nothing else."""
    import optuna
    from optuna.study import MaxTrialsCallback

    from objectives import ObjectiveContext
    from objectives.mock import MockObjective
    from study import defaults, service
    from study.search.pruner import build_pruner
    from study.search.sampler import TrialSeededSampler
    from study.trials import FINISHED, n_finished

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage_arg.startswith("grpc:"):
        host, _, port = storage_arg[5:].rpartition(":")
        storage = optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    else:
        from storage import open_storage

        storage = open_storage(storage_arg, create=False)
    study = optuna.load_study(study_name=STUDY, storage=storage)
    experiment = service.read_experiment(study.user_attrs)
    study.sampler, study.pruner = TrialSeededSampler(experiment.seed), \
        build_pruner(experiment.pruner)
    ctx = ObjectiveContext(spec=experiment.trial_spec(), study_name=STUDY,
                           cache_dir=defaults.cache_dir(None), model_dir=defaults.model_dir(None),
                           mock_delay=defaults.mock_delay())
    objective, ident = MockObjective(ctx), f"{socket.gethostname()}:{os.getpid()}"

    def run(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", ident)
        return objective(trial)

    if n_finished(study) < budget:
        study.optimize(run, callbacks=[MaxTrialsCallback(budget, states=FINISHED)],
                       catch=(Exception,), gc_after_trial=False)
    return 0


def proxy_server(url: str, port: int, threads: int) -> int:
    """Optuna's gRPC proxy over the service's engine settings, with a pool for its threads."""
    from concurrent.futures import ThreadPoolExecutor

    import optuna

    from storage.rdb import engine_kwargs, prepare_url

    url = prepare_url(url)
    kwargs = {**engine_kwargs(url), "pool_size": threads}  # one connection per server thread
    storage = optuna.storages.get_storage(optuna.storages.RDBStorage(url, engine_kwargs=kwargs))
    optuna.storages.run_grpc_proxy_server(storage, host="127.0.0.1", port=port,
                                          thread_pool=ThreadPoolExecutor(max_workers=threads))
    return 0


def _server_cpu(cluster) -> float:
    """CPU seconds of the postmaster and its reaped backends (a closed connection's included)."""
    pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(value) for value in fields[11:15]) / _TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process whose output goes to `log` (progress lines and warnings stay off the terminal)."""
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def _wait(procs: list[subprocess.Popen], timeout: float, log: Path) -> None:
    end = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise RuntimeError(f"{proc.args[:6]} did not finish in {timeout:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"{proc.args[:6]} exited {proc.returncode}; its output:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")


def case(cluster, mode: str, workers: int, *, trials: int, delay: float, tmp: Path) -> dict:
    import optuna
    from optuna.trial import TrialState

    from storage import open_storage
    from tests.postgres_connections import ConnectionSampler

    db = f"c_{mode}_{workers}"
    url = cluster.create_database(db)
    env = {**os.environ, "STUDY_STORAGE": url, "STUDY_NAME": STUDY, "STUDY_MOCK_DELAY": str(delay),
           "STUDY_CACHE_DIR": str(tmp / "cache"), "STUDY_MODEL_DIR": str(tmp / "models")}
    common = ["--objective", "mock", "--data", "synthetic", "--profile", "quick"]
    subprocess.run(_py("-m", "study", "create", *common, "--pruner", "none", "--replicate-seeds",
                       "0", "--n-trials", str(trials)), env=env, cwd=REPO, check=True,
                   capture_output=True, timeout=300)
    probes = {role: tmp / f"{db}-{role}.json" for role in ("launcher", "worker")}
    log = tmp / f"{db}.log"
    cpu, server = _children_cpu(), _server_cpu(cluster)
    proxy, helpers = None, set()
    with ConnectionSampler(cluster.connect_kwargs(db)) as sampler:
        started = time.perf_counter()
        if mode == "service":
            flags = [*common, "--devices", "cpu", "--quiet"]
            procs = [_start(_py("-m", "bench.pool_probe", str(probes["launcher"]), "--", "run",
                                *flags, "--per-device", str(workers - 1)), env, log),
                     _start(_py("-m", "bench.pool_probe", str(probes["worker"]), "--", "worker",
                                *flags, "--per-device", "1"), env, log)]
            helpers.update(proc.pid for proc in procs)  # commands: the probes' processes
        else:
            target = url
            if mode == "grpc":
                port = cluster_free_port()
                proxy = _start(_py("-m", "bench.connections", "proxy", url, str(port)), env, log)
                helpers.add(proxy.pid)
                with warnings.catch_warnings():  # the proxy is "experimental"
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port) \
                        .wait_server_ready(timeout=60)
                target = f"grpc:127.0.0.1:{port}"
            procs = [_start(_py("-m", "bench.connections", "bare", target, str(trials)), env, log)
                     for _ in range(workers)]
        try:
            _wait(procs, 900, log)
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(timeout=30)
        wall = time.perf_counter() - started
    time.sleep(1.0)  # the server reaps the closed connections' backends
    cpu, server = _children_cpu() - cpu, _server_cpu(cluster) - server
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url, create=False))
    states = [t.state for t in study.get_trials(deepcopy=False)]
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()
                and t.datetime_start and t.datetime_complete]
    seen = sampler.seen
    worker_peaks = [n for pid, n in seen.peak_by_client.items() if pid not in helpers]
    done = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
    row = {"mode": mode, "workers": workers, **steady_state(finished, delay),
           "finished/budget": f"{done}/{trials}", "exact": done == trials and not any(
               s in (TrialState.RUNNING, TrialState.WAITING) for s in states),
           "peak conns": seen.peak, "conns opened": len(seen.backends),
           "per worker": max(worker_peaks, default=0),
           "per command/proxy": max((seen.peak_by_client.get(p, 0) for p in helpers), default=0),
           "lock waiters": seen.mean_lock_waiters, "wall s": wall,
           "worker CPU s/trial": cpu / max(1, len(finished)),
           "server CPU s/trial": server / max(1, len(finished))}
    if mode == "service":
        row["probes"] = {role: json.loads(path.read_text()) for role, path in probes.items()}
    cluster.drop_database(db)
    return row


def cluster_free_port() -> int:
    from tests.helpers import free_port

    return free_port()


def _kind_rows(rows: list[dict]) -> list[dict]:
    from bench.pool_probe import KINDS

    kinds = []
    for row in rows:
        for role, probe in row.get("probes", {}).items():
            together = sorted(probe["together"].items(), key=lambda item: -item[1])
            kinds.append({"workers": row["workers"], "process": role,
                          "peak open": probe["peak_open"], "opened": probe["opened"],
                          "most in use at once": probe["peak_out"],
                          **{kind: probe["peak_by_kind"].get(kind, 0) for kind in KINDS},
                          "study lock taken": probe["lock_acquired"],
                          "median ms wait/hold": f"{1000 * probe['lock_wait_median_s']:.0f} / "
                                                 f"{1000 * probe['lock_hold_median_s']:.0f}",
                          "held together (checkouts)": "; ".join(
                              f"{names} ({count})" for names, count in together) or "–"})
    return kinds


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bare"]:  # one worker process of the `bare` and `grpc` cases
        return bare_worker(argv[1], int(argv[2]))
    if argv[:1] == ["proxy"]:  # the proxy process of the `grpc` case
        return proxy_server(argv[1], int(argv[2]), PROXY_THREADS)
    parser = argparse.ArgumentParser(prog="python -m bench.connections", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--trials", type=int, default=128,
                        help="the study's budget, the same at every worker count")
    parser.add_argument("--delay", type=float, default=0.5, help="STUDY_MOCK_DELAY, seconds")
    parser.add_argument("--shared", default="", help="a note on who else used the machine")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    from tests.postgres_cluster import PostgresCluster

    rows: list[dict] = []
    load_before = os.getloadavg()[0]
    cluster = PostgresCluster(settings={"max_connections": "400"})
    with tempfile.TemporaryDirectory(prefix="bench-connections-") as tmp_name:
        try:
            cluster.start()
            for workers in args.workers:  # every mode at one count before the next count
                for mode in args.modes:
                    rows.append(case(cluster, mode, workers, trials=args.trials,
                                     delay=args.delay, tmp=Path(tmp_name)))
                    shown = {k: v for k, v in rows[-1].items() if k != "probes"}
                    print(f"  {shown}", file=sys.stderr, flush=True)
        finally:
            cluster.cleanup()
    for row in rows:
        service = next((r for r in rows if r["mode"] == "service"
                        and r["workers"] == row["workers"]), None)
        row["× service"] = row["trials/s"] / service["trials/s"] if service else float("nan")
    columns = ["mode", "workers", "finished/budget", "exact", "trials/s", "× service",
               "overhead s/trial", "in-trial overhead s", "lock waiters", "peak conns",
               "per worker", "per command/proxy", "conns opened", "worker CPU s/trial",
               "server CPU s/trial", "wall s"]
    text = table(rows, columns)
    kinds = _kind_rows(rows)
    if kinds:
        text += ("\n\nConnections of the probed service processes by what held them (most "
                 "checked out at once), and the study lock per acquisition:\n\n" + table(kinds))
    notes = []
    for row in rows:
        if row["mode"] == "service":
            # README: 2 × (W + C) + 2 × R; C: the `run` launcher and the one-slot `worker`
            bound = 2 * (row["workers"] + 2) + 2
            notes.append(f"service, {row['workers']} workers: the README's formula without the "
                         f"reserve, 2 × ({row['workers']} + 2) + 2 × 1 = {bound}; peak "
                         f"{row['peak conns']} "
                         f"({'within' if row['peak conns'] <= bound else 'ABOVE'}).")
    notes.append(f"Mock objective: {args.delay:g} s of sleep per trial over 10 reported epochs, no "
                 f"pruner, a budget of {args.trials} trials at every worker count, the service's "
                 "heartbeat settings; modes interleaved per worker count; one run.")
    for row in rows:
        if not row["exact"]:
            notes.append(f"{row['mode']}, {row['workers']} workers: {row['finished/budget']} "
                         "trials finished (no study lock: MaxTrialsCallback stops each worker only "
                         "after its own trial, so workers that were running overshoot).")
    notes.append(f"Machine load average (1 min): {load_before:.1f} at the start, "
                 f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores"
                 + (f"; shared: {args.shared}." if args.shared else "."))
    text_notes = "\n".join(f"- {n}" for n in notes)
    print(text + "\n\n" + text_notes)
    if not args.no_write:
        update_section("connections", section(
            "7. Many workers against one PostgreSQL: connections, throughput, gRPC proxy", "cpu",
            text, text_notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
