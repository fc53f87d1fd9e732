"""The profiles, and the large-batch option derived from one."""

from __future__ import annotations

import pytest

from objectives.profiles import PROFILES, get_profile, large_batch


def test_large_batch_option_of_the_paper_profile():
    paper, large = get_profile("paper"), get_profile("paper-large-batch")
    assert large == large_batch(paper)
    assert large.features == paper.features  # same feature cache
    assert large.search == paper.search
    t = large.train
    assert (t.batch_size, t.precision, t.warmup_epochs) == (256, "bf16-mixed", 2.0)
    assert t.learning_rate == pytest.approx(paper.train.learning_rate * 8 ** 0.5)
    assert t.max_epochs == 2 * paper.train.max_epochs
    # Twice the epochs, the same total decay of the learning rate.
    assert t.lr_decay ** t.max_epochs == pytest.approx(
        paper.train.lr_decay ** paper.train.max_epochs)


def test_base_profiles_do_not_warm_up():
    assert all(PROFILES[name].train.warmup_epochs == 0 for name in ("paper", "quick"))
