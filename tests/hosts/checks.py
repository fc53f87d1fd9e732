"""Checks every several-hosts and SLURM scenario makes on the study once its workers are done:
both phases finished exactly (the search budget, every planned replicate once), nothing left
RUNNING or WAITING, and a failed trial retried at most once."""

from __future__ import annotations

from collections import Counter

import optuna
from optuna.trial import FrozenTrial, TrialState

from storage import is_retry_of
from study.replicates.plan import BUDGET_ATTR
from tests.study.processes import assert_exact_budget

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def both_phases(url: str, budget: int,
                name: str = "recon-lambda") -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """The search and replicate trials, after checking that both phases finished exactly."""
    search = optuna.load_study(study_name=name, storage=url).get_trials()
    assert_exact_budget(search, budget)
    companion = optuna.load_study(study_name=f"{name}-replicates", storage=url)
    runs = companion.get_trials()
    done = Counter((t.user_attrs["arm"], t.user_attrs["seed"]) for t in runs
                   if t.state == TrialState.COMPLETE)
    planned = int(companion.user_attrs[BUDGET_ATTR])
    assert planned > 0 and len(done) == planned and set(done.values()) == {1}, (planned, done)
    left = [t.number for t in runs if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not left, left
    return search, runs


def retries_of(trials: list[FrozenTrial], number: int) -> list[FrozenTrial]:
    """The trials that re-run trial `number` itself (not a re-run of one of its re-runs)."""
    return [t for t in trials if is_retry_of(t, number)]


def assert_retried_once(trials: list[FrozenTrial], number: int) -> FrozenTrial:
    """Trial `number` failed and was re-run exactly once, with its parameters; the re-run."""
    original = trials[number]
    assert original.state == TrialState.FAIL, original.state
    retries = retries_of(trials, number)
    assert len(retries) == 1, [t.number for t in retries]
    assert original.params.items() <= retries[0].params.items()
    return retries[0]


def worker_of(trial: FrozenTrial) -> str:
    """Who ran it: the worker id's host part (STUDY_WORKER_ID), without pid and slot."""
    return str(trial.user_attrs.get("worker", "")).split(":")[0]


def pid_of(trial: FrozenTrial) -> int | None:
    parts = str(trial.user_attrs.get("worker", "")).split(":")
    return int(parts[1]) if len(parts) > 1 else None
