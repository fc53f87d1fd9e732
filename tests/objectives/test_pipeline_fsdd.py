"""The whole pipeline on real recordings: FSDD folder → feature cache → quick training.

A model that learns nothing (or a pipeline that scrambles labels) cannot reach 80 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from objectives.data import load_training_data
from objectives.profiles import get_profile
from objectives.search_space import TrialParams
from objectives.spec import TrialSpec
from objectives.training import configure_threads, quiet_lightning, train_configuration

FSDD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fsdd" / "recordings"


@pytest.mark.slow
@pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD recordings not found at {FSDD}")
def test_quick_profile_learns_spoken_digits(tmp_path):
    profile = get_profile("quick")
    data = load_training_data(TrialSpec(data=f"folder:{FSDD}", profile=profile, seed=0),
                              tmp_path)
    assert data.classes == tuple(str(d) for d in range(10))
    configure_threads()
    quiet_lightning()
    # Six epochs: enough to show learning (about 99 % after the profile's full 12).
    outcome = train_configuration(data, TrialParams(lam=1.0, dropout=0.2, hidden=64), profile,
                                  seed=0, max_epochs=6)
    assert outcome.val_accuracy >= 0.80, outcome
    assert outcome.test_accuracy >= 0.70, outcome
