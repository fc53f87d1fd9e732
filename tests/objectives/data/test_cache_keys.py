"""Feature cache keys are pinned: a cache built by an earlier version is found and reused.

The folder source's identity holds its absolute root, so the folder key is pinned for a fixed
root ("/pinned/audio") on top of the pinned identity (names, sizes, mtimes: its digest).
"""

from __future__ import annotations

import os
from pathlib import Path

from objectives.data.features import cache_key
from objectives.data.registry import parse_source
from objectives.profiles import get_profile

QUICK = get_profile("quick").features
EPOCH_NS = 1_700_000_000_000_000_000


def _file(path: Path, size: int, mtime_ns: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(size))  # identity() reads stats only: any bytes will do
    os.utime(path, ns=(mtime_ns, mtime_ns))


class _AtRoot:
    """The identity of `source` as if its folder lived at `root`."""

    def __init__(self, source, root: str) -> None:
        self._identity = {**source.identity(), "root": root}

    def identity(self) -> dict:
        return self._identity


def test_folder_key_is_pinned(tmp_path):
    root = tmp_path / "audio"
    for c, label in enumerate(("cat", "dog")):
        for n in range(3):
            _file(root / label / f"{n}.wav", 100 + 10 * n + c, EPOCH_NS + 10**9 * (3 * c + n))
    source = parse_source(f"folder:{root}", cache_dir=tmp_path)
    assert source.identity() == {"kind": "folder", "root": str(root.resolve()), "split": "seed",
                                 "seed": 0, "files": 6, "digest": "398b0dbc7804131a"}
    assert cache_key(_AtRoot(source, "/pinned/audio"), QUICK) == "8a673698c4845df7"


def test_label_prefix_folder_key_is_pinned(tmp_path):
    root = tmp_path / "fsdd"
    for n in range(4):
        _file(root / f"{n % 2}_speaker_{n}.wav", 50 + n, EPOCH_NS + n)
    source = parse_source(f"folder:{root}", cache_dir=tmp_path, seed=3)
    assert source.identity() == {"kind": "folder", "root": str(root.resolve()), "split": "seed",
                                 "seed": 3, "files": 4, "digest": "7ad35bb6e07a3fca"}
    assert cache_key(_AtRoot(source, "/pinned/fsdd"), QUICK) == "4f88b1e7f6a4b7c6"


def test_synthetic_key_and_audio_directory_are_pinned(tmp_path):
    source = parse_source("synthetic:6", cache_dir=tmp_path)
    # Re-pinned when the evaluation splits grew 4× (EVAL_SCALE): another set, another key. The
    # audio directory is named by the clips generated per class (4 + 4 + 4).
    assert cache_key(source, QUICK) == "abecb289e10e0d80"
    assert source.directory == tmp_path / "synthetic" / "v2-seed0-n12"
