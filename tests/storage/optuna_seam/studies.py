"""The studies the seam's contract tests run on: an RDB storage with or without heartbeats."""

from __future__ import annotations

import optuna

from storage import open_storage


def make_study(url: str, **storage_options) -> optuna.Study:
    storage = open_storage(url, **storage_options)
    return optuna.create_study(study_name="s", storage=storage, direction="maximize")


def beating(url: str, grace: int = 2) -> optuna.Study:
    """A study whose trials beat every second and go stale after `grace` seconds."""
    return make_study(url, heartbeat_interval=1, grace_period=grace)
