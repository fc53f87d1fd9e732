"""The data path of one trial: audio sources → log-mel feature cache → padded training data.

`load_training_data(trial_spec, cache_dir)` is the one composition root every command that
trains calls. Sources (`parse_source`, `normalize_spec`), the split check (`check_splits`) and
the feature cache (`build_cache`) are exported for the commands that prepare or inspect data.
Importing this package loads numpy, not torch.
"""

from objectives.data.base import SPLITS, DataSourceError
from objectives.data.features import FeatureCacheError, build_cache, cache_key
from objectives.data.registry import normalize_spec, parse_source
from objectives.data.split_check import check_splits
from objectives.data.training_data import (
    TrainingData,
    load_labelled_clips,
    load_training_data,
    split_frames,
)

__all__ = [
    "SPLITS", "DataSourceError", "FeatureCacheError", "TrainingData", "build_cache", "cache_key",
    "check_splits", "load_labelled_clips", "load_training_data", "normalize_spec",
    "parse_source", "split_frames",
]
