"""The generated default data set: deterministic, balanced, atomic, and not trivially easy."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from objectives.data.features import build_cache
from objectives.data.registry import parse_source
from objectives.data.synthetic import (
    CLASSES,
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
    assert len(items) == 40 and all(item.path.is_file() for item in items)
    assert not list(tmp_path.glob("synthetic/*.partial"))
    mtimes = [item.path.stat().st_mtime_ns for item in items]
    again = parse_source("synthetic:5", cache_dir=tmp_path, seed=0).items()
    assert [item.path.stat().st_mtime_ns for item in again] == mtimes  # not regenerated
    assert Counter(item.split for item in items) == {"train": 24, "val": 8, "test": 8}
    other = parse_source("synthetic:5", cache_dir=tmp_path, seed=1)
    assert [i.split for i in other.items()] != [i.split for i in items]
    assert other.identity() != source.identity()


def test_interrupted_generation_is_redone(tmp_path):
    source = SyntheticSource(tmp_path, per_class=5)
    source.directory.mkdir(parents=True)
    (source.directory / "drone_0000.wav").write_bytes(b"half a file")  # no manifest
    items = source.items()
    assert len(items) == 40 and (source.directory / "manifest.json").is_file()
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
