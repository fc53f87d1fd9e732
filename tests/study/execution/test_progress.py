"""What `run` says while it works (`study.execution.progress`), read from the real command's
stderr with the mock objective: one line per change of the finished count, and a resumed run
that says what it resumes without replaying the trials that finished before."""

from __future__ import annotations

import itertools
import re

import pytest

from tests.study.conftest import Cli, load

WORKERS = ("--objective", "mock", "--devices", "cpu", "--per-device", "2")


def _finished_counts(stderr: str, phase: str) -> list[int]:
    return [int(m) for m in re.findall(rf"^{phase}: finished (\d+)/", stderr, re.MULTILINE)]


@pytest.mark.slow
def test_one_line_per_change_of_the_finished_count(cli: Cli, sqlite_url: str) -> None:
    """Two workers: the running count changes between polls far more often than the finished
    count; only the finished count makes a line."""
    run = cli.run("run", "--storage", sqlite_url, "--n-trials", "16", *WORKERS, timeout=600)
    for phase in ("search", "replicates"):
        counts = _finished_counts(run.stderr, phase)
        assert counts, (phase, run.stderr)
        assert all(a < b for a, b in itertools.pairwise(counts)), (phase, counts)


@pytest.mark.slow
def test_a_resumed_run_says_what_it_resumes_and_replays_nothing(cli: Cli,
                                                                sqlite_url: str) -> None:
    first = cli.run("run", "--storage", sqlite_url, "--n-trials", "14", "--replicate-seeds",
                    "0", *WORKERS, timeout=600)
    study = load(sqlite_url)
    pruned = sorted(t.number for t in study.trials if t.state.name == "PRUNED")
    assert pruned, "the mock with the default pruner prunes some of 14 trials"
    assert f"search: trial {pruned[0]} pruned at epoch" in first.stderr
    best = max(t.value for t in study.trials if t.state.name == "COMPLETE")
    again = cli.run("run", "--storage", sqlite_url, "--n-trials", "18", "--replicate-seeds",
                    "0", *WORKERS, timeout=600)
    said = [line for line in again.stderr.splitlines() if "resuming" in line]
    assert said == [(f"search: resuming study 'recon-lambda': 14 of 18 trials finished "
                     f"({len(pruned)} pruned, best validation {best * 100:.1f} %)")], said
    replayed = [int(n) for n in re.findall(r"search: trial (\d+) pruned", again.stderr)]
    assert replayed and min(replayed) >= 14 or not replayed, again.stderr
    assert not set(replayed) & set(pruned)
    counts = _finished_counts(again.stderr, "search")
    assert counts[0] == 14 and counts[-1] == 18, counts
    assert all(a < b for a, b in itertools.pairwise(counts)), counts


@pytest.mark.slow
def test_the_replicate_budget_bounds_round_one(cli: Cli, sqlite_url: str) -> None:
    """Round 1 plans every arm × 2 seeds of 2 s runs (far more than 12 s); with a 12 s budget
    no run starts after it is spent, the rest are cancelled, and the phase ends with an answer."""
    env = {**cli.env, "STUDY_MOCK_DELAY": "2"}
    run = cli.run("run", "--storage", sqlite_url, "--n-trials", "6", "--objective",
                  "tests.study.slow_objectives:SlowReplicates", "--devices", "cpu",
                  "--per-device", "1", "--replicate-seeds", "2", "--replicate-budget", "12s",
                  env=env, timeout=600)
    companion = load(sqlite_url, "recon-lambda-replicates")
    runs = companion.trials
    started = [t for t in runs if t.state.name == "COMPLETE"]
    cancelled = [t for t in runs if t.user_attrs.get("cancelled")]
    assert started and cancelled, [t.state.name for t in runs]
    assert all(t.state.name == "FAIL" for t in cancelled)
    assert len(started) + len(cancelled) == len(runs)  # nothing left waiting or running
    first = min(t.datetime_start for t in started)
    assert all((t.datetime_start - first).total_seconds() < 12 for t in started)
    assert "planned runs will not start; runs under way finish" in run.stderr, run.stderr
    assert "the phase's budget holds no further round" in run.stderr + run.stdout
    counts = _finished_counts(run.stderr, "replicates")
    assert counts[-1] == len(started), counts
