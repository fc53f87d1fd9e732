"""The composition root of the data path: a trial's spec in, ready training data out.

Parse the source, build or reuse its feature cache, pad the three splits once (and, when the
spec names one, every usable clip of a holdout source, labelled in the main source's class
order). Every command that trains calls `load_training_data`; none assembles these by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from objectives.data.base import SPLITS, DataSourceError
from objectives.data.features import FeatureCache, build_cache
from objectives.data.registry import parse_source
from objectives.data.split_check import check_split_sizes, split_sizes
from objectives.profiles import FeatureSettings, TrainSettings

if TYPE_CHECKING:
    from objectives.batches import PaddedClips
    from objectives.spec import TrialSpec


def split_frames(split: str, settings: TrainSettings) -> int:
    """Frames a split is cut to: the random training crop, else the evaluation window."""
    return settings.crop_frames if split == "train" else settings.eval_frames


def _pad(clips: Sequence[np.ndarray], labels: np.ndarray, frames: int) -> PaddedClips:
    # Imported here: torch is only needed once clips are padded, and `objectives.data` stays
    # importable (specs, sources, split checks) without it.
    from objectives.batches import PaddedClips

    return PaddedClips.from_clips(clips, labels, frames)


@dataclass(frozen=True)
class TrainingData:
    """Clips padded once per worker, reused by every trial it trains."""

    classes: tuple[str, ...]
    n_mels: int
    splits: Mapping[str, PaddedClips]  # "train" padded to >= crop_frames, val/test to eval_frames
    key: str = ""  # feature cache key ("" for in-memory data)
    holdout: PaddedClips | None = None  # every usable clip of the holdout source
    holdout_key: str | None = None

    @classmethod
    def from_clips(cls, splits: Mapping[str, tuple[Sequence[np.ndarray], np.ndarray]],
                   classes: Sequence[str], train: TrainSettings, key: str = "") -> TrainingData:
        """In-memory clips (frames × n_mels arrays and class indices, per split), padded once."""
        for split in SPLITS:
            if not len(splits[split][0]):
                raise ValueError(f"the {split} split has no clips")
        return cls(tuple(classes), int(splits["train"][0][0].shape[1]),
                   {split: _pad(*splits[split], split_frames(split, train)) for split in SPLITS},
                   key=key)


def _check_cache_splits(cache: FeatureCache) -> None:
    """Why a split has no usable clip: too few files per class, or every file failed."""
    what = f"feature cache {cache.key} ({cache.spec})"
    listed = [r for r in cache.index if r["split"] in SPLITS]
    check_split_sizes(split_sizes(((r["label"], r["split"]) for r in listed), cache.classes),
                      what=what)
    for split in SPLITS:
        rows = [r for r in listed if r["split"] == split]
        if not any(r["status"] == "ok" for r in rows):
            raise DataSourceError(
                f"the {split} split of {what} has no usable clip: all {len(rows)} of its files "
                f"failed; see failed_items of `python -m objectives.prepare --data {cache.spec}`")


def load_training_data(trial: TrialSpec, cache_dir: Path, *, progress: bool = False,
                       workers: int | None = None) -> TrainingData:
    """The trial's feature cache (built or reused) with its three splits padded once, and
    its holdout source's clips when it names one."""
    profile = trial.profile
    source = parse_source(trial.data, cache_dir=cache_dir, split=trial.split,
                          seed=trial.seed)
    cache = build_cache(source, profile.features, cache_dir, workers=workers, progress=progress)
    _check_cache_splits(cache)
    data = TrainingData(cache.classes, cache.settings.n_mels,
                        {split: _pad(*cache.split(split), split_frames(split, profile.train))
                         for split in SPLITS}, key=cache.key)
    if not trial.holdout_data:
        return data
    # Every split of the holdout is used, so no split seed: one cache serves every study seed.
    holdout, key = load_labelled_clips(trial.holdout_data, profile.features, data.classes,
                                       cache_dir, frames=profile.train.eval_frames,
                                       progress=progress)
    return dataclasses.replace(data, holdout=holdout, holdout_key=key)


def load_labelled_clips(spec: str, features: FeatureSettings, classes: Sequence[str],
                        cache_dir: Path, *, frames: int, splits: Sequence[str] = SPLITS,
                        seed: int = 0, progress: bool = False) -> tuple[PaddedClips, str]:
    """The usable clips of `spec` in `splits` (default: all of them), padded to >= `frames`,
    labelled by name in `classes` order; and the cache key. A split may be empty."""
    unknown_splits = sorted(set(splits) - set(SPLITS))
    if unknown_splits:
        raise DataSourceError(f"unknown split(s) {', '.join(unknown_splits)}; "
                              f"choose from {', '.join(SPLITS)}")
    source = parse_source(spec, cache_dir=cache_dir, seed=seed)
    cache = build_cache(source, features, cache_dir, progress=progress)
    unknown = [name for name in cache.classes if name not in classes]
    if unknown:
        raise DataSourceError(f"{spec} has labels the model was not trained on: "
                              f"{', '.join(unknown)} (trained on: {', '.join(classes)})")
    to_model = np.array([list(classes).index(name) for name in cache.classes], dtype=np.int64)
    clips, labels = [], []
    for split in splits:
        split_clips, split_labels = cache.split(split)
        clips += split_clips
        labels.append(to_model[split_labels])
    if not clips:
        raise DataSourceError(f"{spec} has no usable clips in split(s) {', '.join(splits)}")
    return _pad(clips, np.concatenate(labels), frames), cache.key
