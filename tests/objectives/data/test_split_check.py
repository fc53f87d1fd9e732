"""Per-class split sizes and the split check: numbers per class, refusal of an empty split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from objectives.data.base import DataSourceError, split_counts, stratified_split
from objectives.data.folder import FolderSource
from objectives.data.registry import parse_source
from objectives.data.split_check import check_split_sizes, check_splits, min_files, split_sizes


@pytest.mark.parametrize("n", range(1, 12))
def test_split_counts_are_what_stratified_split_does(n):
    ids = [f"x{i}" for i in range(n)]
    got = Counter(stratified_split(ids, ["x"] * n, seed=0).values())
    assert (got["train"], got["val"], got["test"]) == split_counts(n)
    assert (got["val"] > 0) == (n >= 5) and (got["test"] > 0) == (n >= 3)


def test_min_files_per_split():
    assert (min_files("train"), min_files("val"), min_files("test")) == (1, 5, 3)


def test_split_sizes_keep_class_order_and_show_empty_classes():
    sizes = split_sizes([("b", "train"), ("a", "val"), ("b", "test"), ("b", "train")],
                        classes=("b", "c"))
    assert list(sizes) == ["b", "c", "a"]
    assert sizes["b"] == {"train": 2, "val": 0, "test": 1}
    assert sizes["c"] == {"train": 0, "val": 0, "test": 0}


def test_warnings_name_each_small_class_with_numbers():
    sizes = {"big": {"train": 7, "val": 1, "test": 2}, "pair": {"train": 2, "val": 0, "test": 0},
             "four": {"train": 3, "val": 0, "test": 1}}
    warnings = check_split_sizes(sizes, what="folder:/x")
    pair = ("class 'pair' of folder:/x has 2 file(s): 2 train, 0 val, 0 test, so no val and no "
            "test clip; a class needs >= 5 files for a val clip and >= 3 files for a test clip")
    four = ("class 'four' of folder:/x has 4 file(s): 3 train, 0 val, 1 test, so no val clip; a "
            "class needs >= 5 files for a val clip")
    assert warnings == [pair, four]


def test_an_empty_split_is_one_line_with_files_per_class():
    sizes = {label: {"train": 3, "val": 0, "test": 1} for label in ("a", "b")}
    with pytest.raises(DataSourceError) as error:
        check_split_sizes(sizes, what="folder:/x")
    assert str(error.value) == (
        "the val split of folder:/x is empty (files per class: a 4, b 4); with the seeded "
        "70/10/20 split a class needs >= 5 files for a val clip: add recordings")


def test_many_classes_are_cut_short_in_the_error():
    sizes = {f"c{i}": {"train": 1, "val": 0, "test": 0} for i in range(20)}
    with pytest.raises(DataSourceError, match=r"c11 1, … \(20 classes\)\)"):
        check_split_sizes(sizes, what="x")


def test_check_splits_of_a_folder(tmp_path):
    root = tmp_path / "audio"
    root.mkdir()
    for label, count in (("a", 5), ("b", 5), ("c", 2)):
        for n in range(count):
            sf.write(root / f"{label}_{n}.wav", np.full(800, 0.1, dtype=np.float32), 8000)
    [warning] = check_splits(FolderSource(root))
    assert warning.startswith(f"class 'c' of folder:{root} has 2 file(s): 2 train, 0 val, 0 test")


def test_check_splits_of_synthetic_writes_no_audio(tmp_path):
    source = parse_source("synthetic:5", cache_dir=tmp_path)
    assert check_splits(source) == []
    assert not (tmp_path / "synthetic").exists()
    assert Counter(source.labelled_splits()) == Counter(
        (item.label, item.split) for item in source.items())
