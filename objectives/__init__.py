"""One trial: audio sources → log-mel feature cache → model → training → metric.

Nothing here knows about studies, storage or the service's CLI: the service hands a trial its
`TrialSpec` (data, split, seed, holdout, profile) inside an `ObjectiveContext` and calls the
objective. This is the package's front door. Profiles, the search space, the spec and the context
are imported with it (the standard library and Optuna); the data path (numpy), training and
checkpoints (torch) are imported on first use, so a command's `--help` loads no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from objectives.context import ObjectiveContext, ReplicateOutcome
from objectives.profiles import (
    LARGE_BATCH_SIZE,
    PROFILES,
    FeatureSettings,
    Profile,
    SearchBounds,
    TrainSettings,
    UnknownProfileError,
    get_profile,
    large_batch,
    with_max_epochs,
)
from objectives.search_space import (
    LAMBDA_ATTR,
    LAMBDA_PARAM,
    TrialParams,
    baseline_params,
    effective_lambda,
    from_params,
    params_of,
    record_fixed,
    suggest,
    with_ranges,
)
from objectives.spec import TrialSpec

_ON_FIRST_USE = {
    "objectives.data": ("DataSourceError", "FeatureCacheError", "TrainingData", "build_cache",
                        "cache_key", "check_splits", "load_training_data", "normalize_spec",
                        "parse_source"),
    "objectives.checkpoint": ("CheckpointError",),
    "objectives.evaluate": ("evaluate_checkpoint",),
    "objectives.training": ("configure_threads", "quiet_lightning", "train_configuration"),
}
_MODULE_OF = {name: module for module, names in _ON_FIRST_USE.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'objectives' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)


__all__ = [
    "LAMBDA_ATTR",
    "LAMBDA_PARAM",
    "LARGE_BATCH_SIZE",
    "PROFILES",
    "CheckpointError",
    "DataSourceError",
    "FeatureCacheError",
    "FeatureSettings",
    "ObjectiveContext",
    "Profile",
    "ReplicateOutcome",
    "SearchBounds",
    "TrainSettings",
    "TrainingData",
    "TrialParams",
    "TrialSpec",
    "UnknownProfileError",
    "baseline_params",
    "build_cache",
    "cache_key",
    "check_splits",
    "configure_threads",
    "effective_lambda",
    "evaluate_checkpoint",
    "from_params",
    "get_profile",
    "large_batch",
    "load_training_data",
    "normalize_spec",
    "params_of",
    "parse_source",
    "quiet_lightning",
    "record_fixed",
    "suggest",
    "train_configuration",
    "with_max_epochs",
    "with_ranges",
]
