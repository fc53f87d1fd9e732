"""`--seed` repeats a study: TPE is seeded per trial from the study's seed and the trial number,
never from which process asks (two runs of `python -m study run --seed 0` must agree)."""

from __future__ import annotations

import pytest

from tests.study.conftest import Cli, load

ONE_PROCESS = ("--devices", "cpu", "--per-device", "1")
TWO_PROCESSES = ("--devices", "cpu", "--per-device", "2")
NO_REPLICATES = ("--replicate-seeds", "0")
N_STARTUP = 10  # TPE's random start-up trials (Optuna's default), the λ = 0 baseline first


def _params(cli: Cli, file: str, budget: int, *flags: str) -> list[tuple[int, dict]]:
    """(number, parameters) of every trial of a fresh study run to `budget` with `flags`."""
    url = f"sqlite:///{cli.cwd / file}"
    cli.run("run", "--storage", url, "--objective", "mock", "--n-trials", str(budget),
            *NO_REPLICATES, *flags, timeout=240)
    return [(t.number, t.params) for t in load(url).trials]


@pytest.mark.slow
def test_seed_repeats_a_study_with_one_worker(cli: Cli) -> None:
    budget = N_STARTUP + 4  # the last trials are TPE's, built on the results before them
    first = _params(cli, "a.db", budget, "--seed", "0", *ONE_PROCESS)
    assert len(first) == budget
    assert _params(cli, "b.db", budget, "--seed", "0", *ONE_PROCESS) == first
    other = _params(cli, "c.db", budget, "--seed", "1", *ONE_PROCESS)
    assert other[0] == first[0]  # the enqueued λ = 0 baseline
    assert all(mine != theirs for mine, theirs in zip(other[1:], first[1:])), (other, first)


def _as_set(trials: list[tuple[int, dict]]) -> set[tuple]:
    return {tuple(sorted(params.items())) for number, params in trials if number < N_STARTUP}


@pytest.mark.slow
def test_seed_repeats_the_random_start_with_two_workers(cli: Cli) -> None:
    """Which worker runs which trial differs from run to run; the start-up trials do not."""
    budget = N_STARTUP - 2
    first = _as_set(_params(cli, "a.db", budget, "--seed", "0", *TWO_PROCESSES))
    assert len(first) == budget
    assert _as_set(_params(cli, "b.db", budget, "--seed", "0", *TWO_PROCESSES)) == first
    other = _as_set(_params(cli, "c.db", budget, "--seed", "1", *TWO_PROCESSES))
    assert len(other & first) == 1  # the baseline only
