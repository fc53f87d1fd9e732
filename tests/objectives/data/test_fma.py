"""FMA small: its layout, labels and splits (seeded and official), errors naming the path."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from objectives.data.base import DataSourceError
from objectives.data.fma import FMA_GENRES, FmaSource
from objectives.data.registry import parse_source
from tests.objectives.data.fma_layout import write_fma


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
