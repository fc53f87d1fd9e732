"""Contract test of `storage.optuna_seam.gated` (asks through a gate) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_optimize_asks_through_the_gate(tmp_path: Path) -> None:
    study = make_study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    asked: list[int] = []

    def gate(gated, ask):
        trial = ask()
        asked.append(trial.number)
        return trial

    gated = seam.GatedStudy(study, gate)
    gated.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert asked == [0, 1, 2]
    assert gated.last_trial_id == seam.trial_id(study.trials[2])
