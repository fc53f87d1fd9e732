"""Several hosts for real: network namespaces joined by veth links, PostgreSQL in its own.

`create` runs on h1, workers (`--objective mock`, trials of a few seconds, 1 s heartbeats with a
4 s grace period) on h2 and h3, `export` and `evaluate` on h1, which trains nothing. Each test
then breaks something in the middle of a trial: a host's link goes down for a while, a host
vanishes (frozen, its link deleted) while holding the study lock, the database restarts or fails
over while a host is cut off. Both phases must finish with the budget exact, every planned
replicate run once, nothing RUNNING, and the failed trials retried once each.
"""

from __future__ import annotations

import json
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.helpers import wait_for
from tests.hosts.checks import assert_retried_once, both_phases, retries_of, worker_of
from tests.hosts.conftest import Site
from tests.hosts.network import Host
from tests.study.conftest import REPO
from tests.study.processes import finish, trials_of

BUDGET, SEEDS = 8, 1  # 8 search trials, then every replicate arm × 1 seed, one round
MOCK_DELAY = "2"  # seconds per trial: long enough to cut a host off in the middle of one
TAKEN_OVER = "had already been failed by another worker while this one was paused"
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.postgres,
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

LOCK_HOLDER = """
import sys, time
import optuna
from storage import open_storage
from storage import study_lock
study = optuna.load_study(study_name="recon-lambda", storage=open_storage(sys.argv[1]))
with study_lock(study):  # as a worker inside its budget gate when its host goes away
    print("locked", flush=True)
    time.sleep(600)
"""


def _create(site: Site) -> None:
    created = site.study(site.hosts[0], "create", "--objective", "mock", "--pruner", "none",
                         "--n-trials", str(BUDGET), "--replicate-seeds", str(SEEDS),
                         "--max-seeds", str(SEEDS))
    assert created.returncode == 0, created.stderr


def _mid_trial(site: Site, host: Host) -> FrozenTrial:
    """Wait until a worker on `host` is inside a search trial (an epoch reported)."""
    found: list[FrozenTrial] = []

    def inside() -> bool:
        found[:] = [t for t in trials_of(site.test_url) if t.state == TrialState.RUNNING
                    and worker_of(t) == host.name and t.intermediate_values]
        return bool(found)

    wait_for(inside, f"a worker on {host.name} to be in the middle of a trial", timeout=120)
    return found[0]


def _retry_started(site: Site, number: int) -> Callable[[], bool]:
    def started() -> bool:
        trials = trials_of(site.test_url)
        return bool(trials) and trials[number].state == TrialState.FAIL and any(
            t.state != TrialState.WAITING for t in retries_of(trials, number))
    return started


def _wait_or_explain(condition: Callable[[], bool], what: str, timeout: float,
                     workers: list[subprocess.Popen]) -> None:
    """`wait_for`, failing with what the workers printed (they are killed first)."""
    try:
        wait_for(condition, what, timeout=timeout)
    except AssertionError as exc:
        for worker in workers:
            worker.kill()
        output = [worker.communicate(timeout=30)[1][-3000:] for worker in workers]
        raise AssertionError(f"{exc}; the workers said:\n" + "\n---\n".join(output)) from None


def _finished(workers: list[subprocess.Popen]) -> list[str]:
    errors = finish(workers, timeout=240)
    assert [w.returncode for w in workers] == [0] * len(workers), errors
    assert not [line for e in errors for line in e.splitlines() if line.startswith("error:")]
    return errors


def _fsdd_subset(target: Path) -> Path:
    """A few real recordings of three digits (a val and a test clip per class)."""
    if not FSDD.is_dir():
        pytest.skip(f"no FSDD recordings at {FSDD}")
    target.mkdir()
    for digit in "012":
        for path in sorted(FSDD.glob(f"{digit}_*.wav"))[:8]:
            shutil.copy(path, target / path.name)
    return target


def test_a_partitioned_host_is_taken_over_and_rejoins(site: Site, tmp_path: Path) -> None:
    h1, h2, h3 = site.hosts
    _create(site)
    workers = [site.worker(h2, MOCK_DELAY), site.worker(h3, MOCK_DELAY)]

    victim = _mid_trial(site, h2)
    h2.partition()
    try:
        _wait_or_explain(_retry_started(site, victim.number),
                         f"h3 to retry trial {victim.number} of the cut-off host", 60, workers)
    finally:
        h2.heal()
    errors = _finished(workers)
    search, runs = both_phases(site.test_url, BUDGET)

    # The late writes of the partitioned worker were refused; its trial counted once, as the
    # retry h3 ran. It said so in one line and went on serving the study.
    retry = assert_retried_once(search, victim.number)
    assert worker_of(retry) == h3.name and retry.state == TrialState.COMPLETE
    assert f"(trial id {victim._trial_id}) {TAKEN_OVER}" in errors[0], errors[0]
    taken_over = search[victim.number].datetime_complete
    rejoined = [t for t in (*search, *runs) if worker_of(t) == h2.name
                and t.datetime_start > taken_over and t.state == TrialState.COMPLETE]
    assert rejoined, "the partitioned worker ran nothing after its link came back"
    failed = [t.number for t in search if t.state == TrialState.FAIL]
    assert failed == [victim.number], failed
    assert not [t for t in (*search, *runs) if worker_of(t) == h1.name]

    exported = site.study(h1, "export")
    assert exported.returncode == 0, exported.stderr
    record = json.loads(exported.stdout)
    best = max((t for t in search if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert record["replicates"]["source_trial"] == best.number
    assert record["replicates"]["seeds_planned"] == SEEDS
    done = sum(t.state == TrialState.COMPLETE for t in runs)
    assert record["replicates"]["finished"] == record["replicates"]["planned"] == done


def test_a_host_that_trained_nothing_exports_and_evaluates_the_winner(site: Site,
                                                                      tmp_path: Path) -> None:
    """The real objective on a few FSDD recordings: h2 and h3 train, h1 (which trains nothing,
    with an empty model cache) exports the winner and evaluates its model, fetched from the
    study's artifact store: a directory every host sees at the same path (a shared mount)."""
    h1, h2, h3 = site.hosts
    recordings = f"folder:{_fsdd_subset(tmp_path / 'fsdd')}"
    shared = tmp_path / "shared-artifacts"
    created = site.study(h1, "create", "--data", recordings, "--max-epochs", "1", "--pruner",
                         "none", "--n-trials", "4", "--replicate-seeds", "1", "--curve-points",
                         "1", "--replicate-candidates", "1", "--artifacts", str(shared))
    assert created.returncode == 0, created.stderr
    _finished([site.worker(h2, "0"), site.worker(h3, "0")])
    search, runs = both_phases(site.test_url, 4)
    assert not [t for t in (*search, *runs) if worker_of(t) == h1.name]
    exported = site.study(h1, "export")
    assert exported.returncode == 0 and "warning" not in exported.stderr, exported.stderr
    record = json.loads(exported.stdout)
    assert record["chosen_by"].startswith("the replicates") and record["use"] is not None
    model = Path(record["model_path"])
    assert model.is_relative_to(h1.workdir / "models") and model.is_file()
    assert record["model"]["sha256"] and record["model"]["store"] == str(shared)
    evaluated = site.study(h1, "evaluate", "--data", recordings)
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["source"]["model_path"] == str(model) and 0 <= result["accuracy"] <= 1
    assert (h1.workdir / "cache").is_dir()  # h1 decoded the recordings into its own cache


def test_a_host_that_vanishes_holding_the_study_lock(site: Site) -> None:
    _, h2, h3 = site.hosts
    _create(site)
    # h2's trials last long enough to still run when it vanishes (the holder takes seconds).
    workers = [site.worker(h2, "60"), site.worker(h3, MOCK_DELAY)]
    victim = _mid_trial(site, h2)
    holder = h2.popen([sys.executable, "-c", LOCK_HOLDER, site.url], site.env(h2))
    assert select.select([holder.stdout], [], [], 120)[0], "the holder never took the lock"
    assert holder.stdout.readline().strip() == "locked", holder.communicate()
    # h2 vanishes: every process frozen (its TCP connections stay open), its link deleted.
    h2.signal_all(signal.SIGSTOP)
    site.network.remove(h2)
    # The server drops h2's sessions once they stop answering (the service asks it to),
    # which frees the lock: h3 finishes the study alone.
    errors = finish([workers[1]], timeout=240)
    assert workers[1].returncode == 0, errors
    search, _ = both_phases(site.test_url, BUDGET)
    assert_retried_once(search, victim.number)
    assert [t.number for t in search if t.state == TrialState.FAIL] == [victim.number]
    # The frozen holder never released the lock: the server did, ending its silent session.
    assert not site.primary.query(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted")


@pytest.mark.parametrize("event", ["restart", "failover"])
def test_the_database_restarts_or_fails_over_while_a_host_is_cut_off(
        event: str, request: pytest.FixtureRequest) -> None:
    site: Site = request.getfixturevalue("site" if event == "restart" else "replicated_site")
    _, h2, h3 = site.hosts
    _create(site)
    workers = [site.worker(h2, MOCK_DELAY), site.worker(h3, MOCK_DELAY)]
    # Both workers serve the study before the database goes: a worker that is still starting
    # when it goes away cannot tell an outage from a wrong URL, and exits with one error line.
    _mid_trial(site, h3)
    victim = _mid_trial(site, h2)
    h2.partition()
    try:
        if event == "restart":
            site.primary.restart()
        else:  # the primary dies; its synchronous standby is promoted, at the second address
            site.primary.stop()
            site.standby.promote()
            site.test_url = site.standby.socket_url("study")
        _wait_or_explain(_retry_started(site, victim.number),
                         f"h3 to retry trial {victim.number} of the cut-off host", 90, workers)
    finally:
        h2.heal()
    errors = _finished(workers)
    search, _ = both_phases(site.test_url, BUDGET)
    assert_retried_once(search, victim.number)
    # Besides the cut-off host's trial, at most h3's trial in flight during the outage failed.
    failed = [t for t in search if t.state == TrialState.FAIL]
    assert len(failed) <= 2 and all(assert_retried_once(search, t.number) for t in failed)
    # Every storage warning names the connection error, never what Optuna raised over it.
    warnings = [line for e in errors for line in e.splitlines()
                if line.startswith("warning: storage error (")]
    assert all("OperationalError" in line for line in warnings), warnings
    assert site.primary.password not in "".join(errors)
