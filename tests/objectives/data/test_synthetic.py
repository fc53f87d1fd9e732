"""The generated default data set: deterministic, balanced, atomic, and not trivially easy."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from objectives.data.base import stratified_split
from objectives.data.features import build_cache, cache_key
from objectives.data.registry import parse_source
from objectives.data.synthetic import (
    CLASSES,
    EVAL_SCALE,
    STYLES,
    SyntheticSource,
    generate_clip,
    generate_dataset,
)
from objectives.profiles import get_profile


def _digest(rows) -> str:
    digest = hashlib.sha256()
    for _, path, _ in rows:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a = generate_dataset(tmp_path / "a", per_class=2, seed=0)
    b = generate_dataset(tmp_path / "b", per_class=2, seed=0)
    c = generate_dataset(tmp_path / "c", per_class=2, seed=1)
    assert [row[0] for row in a] == [row[0] for row in b]
    assert _digest(a) == _digest(b) != _digest(c)
    assert Counter(label for _, _, label in a) == {name: 2 for name in CLASSES}


def test_clips_are_music_like_audio():
    rng = np.random.default_rng(0)
    for style in STYLES:
        clip = generate_clip(style, rng)
        assert clip.dtype == np.float32 and 16000 <= len(clip) <= 24000
        assert 0.1 < np.abs(clip).max() <= 1.0 and np.isfinite(clip).all()


def test_classes_share_traits_pairwise():
    # Every class differs from three others in a single trait: the data is meant to overlap.
    for style in STYLES:
        neighbours = [o for o in STYLES
                      if sum((style.fast != o.fast, style.rising != o.rising,
                              style.bright != o.bright)) == 1]
        assert len(neighbours) == 3


def test_source_writes_once_and_splits_by_seed(tmp_path):
    source = parse_source("synthetic:5", cache_dir=tmp_path, seed=0)
    assert isinstance(source, SyntheticSource) and source.classes == CLASSES
    items = source.items()
    # 5 per class split 3/1/1, validation and test × EVAL_SCALE (4): 3/4/4 per class.
    assert len(items) == 88 and all(item.path.is_file() for item in items)
    assert not list(tmp_path.glob("synthetic/*.partial"))
    mtimes = [item.path.stat().st_mtime_ns for item in items]
    again = parse_source("synthetic:5", cache_dir=tmp_path, seed=0).items()
    assert [item.path.stat().st_mtime_ns for item in again] == mtimes  # not regenerated
    assert Counter(item.split for item in items) == {"train": 24, "val": 32, "test": 32}
    assert Counter((item.label, item.split) for item in items) == {
        (name, split): count for name in CLASSES
        for split, count in (("train", 3), ("val", 4), ("test", 4))}
    other = parse_source("synthetic:5", cache_dir=tmp_path, seed=1)
    assert [i.split for i in other.items()] != [i.split for i in items]
    assert other.identity() != source.identity()


def test_default_set_splits_70_train_and_scaled_evaluation_clips_per_class(tmp_path):
    source = parse_source("synthetic", cache_dir=tmp_path)
    assert EVAL_SCALE == 4 and source.counts == (70, 40, 80)
    splits = Counter(source.labelled_splits())
    assert splits == {(name, split): count for name in CLASSES
                      for split, count in (("train", 70), ("val", 40), ("test", 80))}
    assert not (tmp_path / "synthetic").exists()  # the split check writes no audio


def test_scale_one_is_the_reference_split_and_scaling_only_appends_clips(tmp_path):
    plain = SyntheticSource(tmp_path / "a", per_class=10, eval_scale=1)
    scaled = SyntheticSource(tmp_path / "b", per_class=10, eval_scale=3)
    assert plain.counts == (7, 1, 2) and scaled.counts == (7, 3, 6)
    assert plain.identity() != scaled.identity()
    assert cache_key(plain, get_profile("quick").features) != cache_key(
        scaled, get_profile("quick").features)
    # The split of N clips as the reference cuts it (seeded 70/10/20 per class) at scale 1.
    reference = stratified_split([f"{s.name}_{n:04d}" for s in STYLES for n in range(10)],
                                 [s.name for s in STYLES for _ in range(10)], 0)
    items = plain.items()
    assert {item.item_id: item.split for item in items} == reference
    # The scaled set starts with the same clips, byte for byte.
    first = {item.item_id: item.path.read_bytes() for item in items}
    more = {item.item_id: item.path for item in scaled.items()}
    assert len(more) == 8 * 16 and all(more[key].read_bytes() == data
                                        for key, data in first.items())


def test_interrupted_generation_is_redone(tmp_path):
    source = SyntheticSource(tmp_path, per_class=5)
    source.directory.mkdir(parents=True)
    (source.directory / "drone_0000.wav").write_bytes(b"half a file")  # no manifest
    items = source.items()
    assert len(items) == 88 and (source.directory / "manifest.json").is_file()
    assert items[0].path.stat().st_size > 1000


def test_features_are_deterministic(tmp_path):
    settings = get_profile("quick").features
    caches = [build_cache(parse_source("synthetic:5", cache_dir=tmp_path / d), settings,
                          tmp_path / d, workers=1, progress=False) for d in ("x", "y")]
    assert caches[0].key == caches[1].key
    assert np.array_equal(np.asarray(caches[0].features), np.asarray(caches[1].features))
    assert caches[0].summary()["failed"] == 0


@pytest.mark.slow
def test_default_set_is_not_separable_by_clip_statistics(tmp_path):
    """A linear model on per-clip mean/std of the log-mels must stay far from 100 %."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    source = parse_source("synthetic", cache_dir=tmp_path)
    cache = build_cache(source, get_profile("quick").features, tmp_path, progress=False)

    def table(split):
        clips, labels = cache.split(split)
        return np.array([np.concatenate([c.mean(0), c.std(0)]) for c in clips]), labels

    x, y = table("train")
    xt, yt = table("test")
    model = sklearn.LogisticRegression(max_iter=2000).fit(x, y)
    assert model.score(xt, yt) < 0.9
