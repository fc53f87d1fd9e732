"""The pruner specs a study stores, and the Optuna pruners workers build from them."""

from __future__ import annotations

import optuna
import pytest

from study.search.pruner import PRUNERS, UnknownPrunerError, build_pruner, pruner_spec


@pytest.mark.parametrize("name", PRUNERS)
def test_every_pruner_has_a_spec_that_builds(name: str) -> None:
    spec = pruner_spec(name, 12)
    assert spec["name"] == name
    assert isinstance(build_pruner(spec), optuna.pruners.BasePruner)


def test_successive_halving_spec() -> None:
    spec = pruner_spec("successive-halving", 12)
    assert spec == {"name": "successive-halving", "min_resource": 1, "reduction_factor": 3,
                    "min_early_stopping_rate": 0}
    pruner = build_pruner(spec)
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)


def test_successive_halving_prunes_at_its_first_rung() -> None:
    """Rung 0 is step 1 (after 2 epochs): a trial below the best third there is pruned, one
    above it goes on; nothing is pruned at step 0."""
    study = optuna.create_study(direction="maximize",
                                pruner=build_pruner(pruner_spec("successive-halving", 12)))
    for value in (0.9, 0.8, 0.7):
        trial = study.ask()
        trial.report(value, step=0)
        assert not trial.should_prune()
        trial.report(value, step=1)
        # The first trial at a rung is promoted; of the next two, only a new best would be.
        pruned = trial.should_prune()
        assert pruned == (value != 0.9)
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    worse, better = study.ask(), study.ask()
    worse.report(0.5, step=1)
    assert worse.should_prune()
    better.report(0.95, step=1)
    assert not better.should_prune()


def test_unknown_pruner() -> None:
    with pytest.raises(UnknownPrunerError, match="successive-halving"):
        pruner_spec("asha", 12)
