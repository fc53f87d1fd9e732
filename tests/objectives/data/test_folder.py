"""Labelled folders: both layouts, their identity, errors naming the path."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from objectives.data.base import DataSourceError
from objectives.data.folder import FolderSource
from objectives.data.registry import parse_source

FSDD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fsdd" / "recordings"


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


def _rename_to_latin1(path: Path, name: bytes) -> None:
    os.rename(path, os.fsencode(path.parent) + b"/" + name)


def test_a_name_that_is_not_utf8_is_skipped_and_reported(tmp_path):
    root = tmp_path / "audio"
    for label in ("a", "b"):
        for number in range(5):
            _write_wav(root / label / f"{number}.wav")
    plain = FolderSource(root).items()
    _write_wav(root / "a" / "tmp.wav")
    _rename_to_latin1(root / "a" / "tmp.wav", b"caf\xe9.wav")
    source = FolderSource(root)
    reason = "file name is not valid UTF-8: a/caf\\xe9.wav; rename the file to use it"
    assert source.skipped() == [("a/caf\\xe9.wav", reason)]
    # Every other file is used, with the split it has without the odd file.
    assert [(i.item_id, i.split) for i in source.items()] == [(i.item_id, i.split) for i in plain]
    assert source.classes == ("a", "b")
    assert source.identity()["files"] == 11
    json.dumps(source.identity())  # nothing in it chokes JSON


def test_identity_counts_a_name_that_is_not_utf8(tmp_path):
    root = tmp_path / "audio"
    for label in ("a", "b"):
        _write_wav(root / f"{label}_1.wav")
    before = FolderSource(root).identity()
    _write_wav(root / "a_2.wav")
    _rename_to_latin1(root / "a_2.wav", b"a_\xff.wav")
    after = FolderSource(root).identity()
    assert after["files"] == 3 and after["digest"] != before["digest"]


def test_only_names_that_are_not_utf8_is_an_error(tmp_path):
    root = tmp_path / "audio"
    _write_wav(root / "x.wav")
    _rename_to_latin1(root / "x.wav", b"a_\xe9.wav")
    with pytest.raises(DataSourceError, match="no audio file has a valid UTF-8 name"):
        FolderSource(root)


def test_mixed_layouts_are_refused_naming_the_sub_folders(tmp_path):
    root = tmp_path / "audio"
    for number in range(3):
        _write_wav(root / f"a_{number}.wav")
        _write_wav(root / f"b_{number}.wav")
    for name in ("stray/1.wav", "stray/deep/2.wav", "backup/3.wav"):
        _write_wav(root / name)
    (root / "docs").mkdir()
    (root / "docs" / "readme.txt").write_text("not audio")  # holds no audio: not named
    with pytest.raises(DataSourceError) as error:
        FolderSource(root)
    message = str(error.value)
    assert "\n" not in message
    assert "6 audio file(s) at its top level" in message
    assert "backup/ (1 file), stray/ (2 files)" in message and "docs" not in message
    assert "one sub-folder per class" in message and "LABEL_anything.wav" in message


def test_mixed_layout_error_shows_a_few_sub_folders(tmp_path):
    root = tmp_path / "audio"
    _write_wav(root / "a_0.wav")
    for number in range(8):
        _write_wav(root / f"class{number}" / "x.wav")
    with pytest.raises(DataSourceError, match=r"class4/ \(1 file\) and 3 more; use one layout"):
        FolderSource(root)
