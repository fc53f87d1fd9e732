"""Data sources: FMA's layout and splits, labelled folders, spec parsing, errors naming paths."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from objectives.sources import (
    FMA_GENRES,
    DataSourceError,
    FmaSource,
    FolderSource,
    natural_key,
    parse_source,
    stratified_split,
)
from tests.objectives.fma_layout import write_fma

FSDD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fsdd" / "recordings"


@pytest.fixture
def fma(tmp_path):
    root = tmp_path / "fma"
    return root, write_fma(root)


def test_fma_small_tracks_labels_and_paths(fma, tmp_path):
    root, written = fma
    source = parse_source(f"fma:{root}", cache_dir=tmp_path)
    assert isinstance(source, FmaSource)
    assert source.classes == FMA_GENRES
    items = source.items()
    by_id = {item.item_id: item for item in items}
    # Only the small subset: medium/large rows are ignored; the bad clips are still listed.
    assert set(by_id) == set(written["small_ok"]) | {written["empty"], written["missing"],
                                                      written["short"]}
    for item_id, genre in written["small_ok"].items():
        assert by_id[item_id].label == genre
        assert by_id[item_id].path == root.resolve() / "fma_small" / item_id[:3] / f"{item_id}.mp3"
    assert by_id[written["missing"]].path.name == "108925.mp3"
    assert not by_id[written["missing"]].path.exists()


def test_fma_official_split_maps_names(fma, tmp_path):
    root, _written = fma
    items = parse_source(f"fma:{root}", cache_dir=tmp_path, split="official").items()
    tracks = pd.read_csv(root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
    expected = {"training": "train", "validation": "val", "test": "test"}
    for item in items:
        assert item.split == expected[tracks.loc[int(item.item_id), ("set", "split")]]
    assert {item.split for item in items} == {"train", "val", "test"}


def test_fma_seed_split_is_stratified_and_seeded(fma, tmp_path):
    root, _ = fma
    first = parse_source(f"fma:{root}", cache_dir=tmp_path, seed=0).items()
    again = parse_source(f"fma:{root}", cache_dir=tmp_path, seed=0).items()
    other = parse_source(f"fma:{root}", cache_dir=tmp_path, seed=1).items()
    assert [i.split for i in first] == [i.split for i in again]
    assert [i.split for i in first] != [i.split for i in other]
    per_genre = Counter((i.label, i.split) for i in first if i.label == "Electronic")
    assert per_genre == {("Electronic", "train"): 3, ("Electronic", "val"): 1,
                         ("Electronic", "test"): 1}


def test_fma_missing_tracks_csv_names_path(tmp_path):
    (tmp_path / "fma_small").mkdir()
    with pytest.raises(DataSourceError, match=str(tmp_path / "fma_metadata" / "tracks.csv")):
        parse_source(f"fma:{tmp_path}", cache_dir=tmp_path)


def test_fma_without_expected_columns_names_path(fma, tmp_path):
    root, _ = fma
    csv = root / "fma_metadata" / "tracks.csv"
    tracks = pd.read_csv(csv, index_col=0, header=[0, 1])
    tracks.drop(columns=[("track", "genre_top")]).to_csv(csv)
    with pytest.raises(DataSourceError, match="track/genre_top") as error:
        parse_source(f"fma:{root}", cache_dir=tmp_path)
    assert str(csv) in str(error.value)


def test_fma_single_header_csv_is_rejected(fma, tmp_path):
    root, _ = fma
    csv = root / "fma_metadata" / "tracks.csv"
    csv.write_text("track_id,genre_top\n2,Rock\n")
    with pytest.raises(DataSourceError, match=str(csv)):
        parse_source(f"fma:{root}", cache_dir=tmp_path)


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD recordings not found at {FSDD}")
def test_folder_with_label_prefixes_fsdd(tmp_path):
    source = parse_source(f"folder:{FSDD}", cache_dir=tmp_path, seed=0)
    assert source.classes == tuple(str(d) for d in range(10))
    items = source.items()
    assert len(items) == 2000
    assert all(item.label == item.path.name.split("_")[0] for item in items)
    counts = Counter((item.label, item.split) for item in items)
    for digit in source.classes:  # 200 per digit → 140 / 20 / 40
        assert (counts[(digit, "train")], counts[(digit, "val")], counts[(digit, "test")]) == (
            140, 20, 40)
    assert source.identity() == parse_source(f"folder:{FSDD}", cache_dir=tmp_path).identity()


def _write_wav(path: Path, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(8000 * seconds), 0.1, dtype=np.float32), 8000)


def test_folder_with_class_subfolders(tmp_path):
    root = tmp_path / "audio"
    for label in ("cat", "dog", "bird10", "bird2"):
        for number in range(10):
            _write_wav(root / label / f"clip{number}.wav")
    (root / "dog" / "notes.txt").write_text("not audio")
    source = FolderSource(root, seed=3)
    assert source.classes == ("bird2", "bird10", "cat", "dog")
    items = source.items()
    assert len(items) == 40
    assert Counter(item.split for item in items) == {"train": 28, "val": 4, "test": 8}
    assert {item.item_id for item in items if item.label == "cat"} == {
        f"cat/clip{n}.wav" for n in range(10)}


def test_folder_identity_changes_with_files(tmp_path):
    root = tmp_path / "audio"
    for label in ("a", "b"):
        for number in range(5):
            _write_wav(root / f"{label}_{number}.wav")
    before = FolderSource(root).identity()
    _write_wav(root / "a_9.wav")
    assert FolderSource(root).identity() != before
    assert FolderSource(root, seed=1).identity() != FolderSource(root).identity()


@pytest.mark.parametrize("make", ["missing", "empty", "one_class", "no_prefix"])
def test_folder_errors(tmp_path, make):
    root = tmp_path / "audio"
    if make != "missing":
        root.mkdir()
    if make == "one_class":
        _write_wav(root / "only" / "x.wav")
    if make == "no_prefix":
        _write_wav(root / "a_1.wav")
        _write_wav(root / "nolabel.wav")
    with pytest.raises(DataSourceError, match=str(root.resolve())):
        parse_source(f"folder:{root}", cache_dir=tmp_path)


@pytest.mark.parametrize("spec", ["nope:x", "fma", "folder:", "synthetic:abc", "synthetic:2", ""])
def test_unknown_or_bad_specs(tmp_path, spec):
    with pytest.raises(DataSourceError):
        parse_source(spec, cache_dir=tmp_path)


def test_official_split_only_for_fma(tmp_path):
    with pytest.raises(DataSourceError, match="official"):
        parse_source("synthetic", cache_dir=tmp_path, split="official")
    with pytest.raises(DataSourceError, match="unknown split"):
        parse_source("synthetic", cache_dir=tmp_path, split="random")


def test_stratified_split_proportions_and_stability():
    ids = [f"{label}{n}" for label in "ab" for n in range(100)]
    labels = [i[0] for i in ids]
    split = stratified_split(ids, labels, seed=0)
    assert Counter((i[0], s) for i, s in split.items()) == {
        ("a", "train"): 70, ("a", "val"): 10, ("a", "test"): 20,
        ("b", "train"): 70, ("b", "val"): 10, ("b", "test"): 20}
    # Adding a class leaves the others' assignments alone.
    more = stratified_split(ids + ["c1", "c2"], labels + ["c", "c"], seed=0)
    assert all(more[i] == split[i] for i in ids)


def test_natural_order():
    assert sorted(["10", "2", "1", "b", "A"], key=natural_key) == ["1", "2", "10", "A", "b"]
