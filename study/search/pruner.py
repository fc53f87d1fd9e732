"""The pruner every worker of a study builds from the study's experiment.

Optuna does not store a study's pruner, so its settings are part of the experiment: `pruner_spec`
turns a name into them when the study is created, `build_pruner` turns them back into a pruner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

PRUNERS = ("median", "successive-halving", "hyperband", "none")


class UnknownPrunerError(ValueError):
    pass


def pruner_spec(name: str, max_epochs: int) -> dict[str, Any]:
    """Settings of the named pruner for trials of up to `max_epochs` epochs."""
    if name == "median":
        # No pruning in the first tenth of the epochs (at least one): the first accuracies of
        # every configuration look alike, so their median is noise. Measured on the quick
        # profile (12 epochs, so 1 warm-up epoch) in BENCHMARKS.md section 3.
        return {"name": "median", "n_startup_trials": 5,
                "n_warmup_steps": max(1, round(max_epochs / 10))}
    if name == "successive-halving":
        # Hyperband's settings, its most aggressive bracket alone: rungs at steps 1, 3, 9, …
        # (after 2, 4, 10 epochs), each keeping the top third of the trials that reached it.
        return {"name": "successive-halving", "min_resource": 1, "reduction_factor": 3,
                "min_early_stopping_rate": 0}
    if name == "hyperband":
        return {"name": "hyperband", "min_resource": 1, "max_resource": "auto",
                "reduction_factor": 3}
    if name == "none":
        return {"name": "none"}
    raise UnknownPrunerError(f"unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}")


def build_pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner a stored spec describes (see `pruner_spec`)."""
    name = spec.get("name")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec["n_startup_trials"],
                                           n_warmup_steps=spec["n_warmup_steps"])
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=spec["min_resource"], reduction_factor=spec["reduction_factor"],
            min_early_stopping_rate=spec["min_early_stopping_rate"])
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=spec["min_resource"],
                                              max_resource=spec["max_resource"],
                                              reduction_factor=spec["reduction_factor"])
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UnknownPrunerError(f"unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}")
