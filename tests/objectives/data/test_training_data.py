"""The composition root: a trial spec becomes padded splits (and a holdout) in one call."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from objectives.data.base import DataSourceError
from objectives.data.features import build_cache, cache_key
from objectives.data.folder import FolderSource
from objectives.data.registry import parse_source
from objectives.data.synthetic import CLASSES
from objectives.data.training_data import TrainingData, load_labelled_clips, load_training_data
from objectives.profiles import get_profile
from objectives.spec import TrialSpec

QUICK = get_profile("quick")


def _folder(root: Path, per_class: dict[str, int]) -> Path:
    root.mkdir(parents=True)
    for c, (label, count) in enumerate(per_class.items()):
        for n in range(count):
            t = np.arange(4000 + 400 * n) / 8000
            wave = 0.3 * np.sin(2 * np.pi * (300 + 500 * c + 20 * n) * t)
            sf.write(root / f"{label}_{n}.wav", wave.astype(np.float32), 8000)
    return root


def test_splits_are_the_cache_s_clips_padded_once(tmp_path):
    data = load_training_data(TrialSpec(data="synthetic:6", profile=QUICK), tmp_path)
    source = parse_source("synthetic:6", cache_dir=tmp_path)
    cache = build_cache(source, QUICK.features, tmp_path, progress=False)
    assert data.key == cache.key == cache_key(source, QUICK.features)
    assert data.classes == CLASSES and data.n_mels == QUICK.features.n_mels
    assert data.holdout is None and data.holdout_key is None
    for split, frames in (("train", QUICK.train.crop_frames), ("val", QUICK.train.eval_frames),
                          ("test", QUICK.train.eval_frames)):
        clips, labels = cache.split(split)
        padded = data.splits[split]
        assert padded.data.shape[1] >= frames and padded.data.shape[2] == QUICK.features.n_mels
        assert padded.lengths.tolist() == [len(clip) for clip in clips]
        assert padded.labels.tolist() == labels.tolist()
        np.testing.assert_array_equal(padded.data[0, :len(clips[0])].numpy(), clips[0])


def test_holdout_labels_follow_the_main_class_order_by_name(tmp_path):
    main = _folder(tmp_path / "main", {"a": 5, "b": 5, "c": 5})
    # Two files per class: the holdout's own val split is empty, and every clip is used anyway.
    holdout = _folder(tmp_path / "holdout", {"c": 2, "b": 2})
    experiment = TrialSpec(data=f"folder:{main}", profile=QUICK, seed=3,
                            holdout_data=f"folder:{holdout}")
    data = load_training_data(experiment, tmp_path / "cache")
    assert data.classes == ("a", "b", "c")
    assert Counter(data.holdout.labels.tolist()) == {1: 2, 2: 2}  # b → 1, c → 2
    assert data.holdout.data.shape[1] >= QUICK.train.eval_frames
    # All of the holdout is used: its cache does not depend on the study's split seed.
    assert data.holdout_key == cache_key(FolderSource(holdout), QUICK.features) != data.key


def test_holdout_with_an_unknown_label_is_refused_by_name(tmp_path):
    main = _folder(tmp_path / "main", {"a": 5, "b": 5})
    holdout = _folder(tmp_path / "holdout", {"a": 2, "zebra": 2})
    experiment = TrialSpec(data=f"folder:{main}", profile=QUICK, holdout_data=f"folder:{holdout}")
    with pytest.raises(DataSourceError, match=r"not trained on: zebra \(trained on: a, b\)"):
        load_training_data(experiment, tmp_path / "cache")


def test_an_empty_split_says_which_classes_and_how_many_files(tmp_path):
    main = _folder(tmp_path / "main", {"a": 4, "b": 3})
    with pytest.raises(DataSourceError) as error:
        load_training_data(TrialSpec(data=f"folder:{main}", profile=QUICK), tmp_path / "cache")
    message = str(error.value)
    assert message.startswith("the val split of feature cache ")
    assert f"(folder:{main}) is empty (files per class: a 4, b 3)" in message
    assert ">= 5 files for a val clip" in message


def test_a_split_whose_files_all_failed_says_so(tmp_path):
    main = _folder(tmp_path / "main", {"a": 5, "b": 5})
    for item in FolderSource(main).items():
        if item.split == "val":
            item.path.write_text("not audio")
    with pytest.raises(DataSourceError, match=r"the val split of feature cache \w+ \(folder:.*\) "
                                              r"has no usable clip: all 2 of its files failed"):
        load_training_data(TrialSpec(data=f"folder:{main}", profile=QUICK), tmp_path / "cache")


def test_labelled_clips_of_chosen_splits(tmp_path):
    root = _folder(tmp_path / "audio", {"a": 3, "b": 3})  # 2 train + 1 test each, no val
    clips, key = load_labelled_clips(f"folder:{root}", QUICK.features, ("b", "a", "c"),
                                     tmp_path / "cache", frames=100)
    assert Counter(clips.labels.tolist()) == {0: 3, 1: 3} and clips.data.shape[1] >= 100
    assert key == cache_key(FolderSource(root), QUICK.features)
    test, _ = load_labelled_clips(f"folder:{root}", QUICK.features, ("a", "b"),
                                  tmp_path / "cache", frames=100, splits=("test",))
    assert Counter(test.labels.tolist()) == {0: 1, 1: 1}
    with pytest.raises(DataSourceError, match="no usable clips in split"):
        load_labelled_clips(f"folder:{root}", QUICK.features, ("a", "b"), tmp_path / "cache",
                            frames=100, splits=("val",))
    with pytest.raises(DataSourceError, match="unknown split"):
        load_labelled_clips(f"folder:{root}", QUICK.features, ("a", "b"), tmp_path / "cache",
                            frames=100, splits=("all",))


def test_from_clips_pads_in_memory_clips():
    rng = np.random.default_rng(0)
    splits = {split: ([rng.normal(size=(n, 8)).astype(np.float32) for n in (10, 30)],
                      np.array([0, 1])) for split in ("train", "val", "test")}
    data = TrainingData.from_clips(splits, ("x", "y"), QUICK.train, key="mem")
    assert data.classes == ("x", "y") and data.n_mels == 8 and data.key == "mem"
    assert data.splits["train"].data.shape == (2, QUICK.train.crop_frames, 8)
    assert data.splits["test"].data.shape == (2, QUICK.train.eval_frames, 8)
    assert data.splits["val"].lengths.tolist() == [10, 30]
    with pytest.raises(ValueError, match="the val split has no clips"):
        TrainingData.from_clips({**splits, "val": ([], np.array([]))}, ("x", "y"), QUICK.train)
