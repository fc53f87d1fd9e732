"""What every data source shares: the item and source types, the splits and how a seeded split
is cut, and the file listing and stat digest that a source's identity is made of.

Nothing here decodes audio; the feature cache (`objectives.data.features`) does.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
SPLIT_MODES = ("seed", "official")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train / val / test, as in the reference

# Formats libsndfile (≥ 1.1) decodes; librosa reads them without FFmpeg.
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif",
                              ".aifc", ".au", ".snd", ".caf", ".w64"})

# Said wherever something cannot be written below the cache directory.
WRITABLE_HINT = "pass a writable --cache-dir or set STUDY_CACHE_DIR"


class DataSourceError(ValueError):
    """A problem with a whole source (missing directory or metadata, bad columns, no files)."""


@dataclass(frozen=True)
class AudioItem:
    item_id: str
    path: Path
    label: str
    split: str  # "train", "val" or "test"


class DataSource(abc.ABC):
    """A labelled set of audio files with a fixed class order and a fixed split."""

    spec: str
    classes: tuple[str, ...]

    @abc.abstractmethod
    def identity(self) -> dict:
        """Cheap, JSON-able description of what the cache key must depend on."""

    @abc.abstractmethod
    def items(self) -> list[AudioItem]:
        """Every file with its label and split (failed decodes are recorded later, not here)."""

    def skipped(self) -> list[tuple[str, str]]:
        """Files found but unusable before any decoding, as (printable name, reason)."""
        return []

    def labelled_splits(self) -> list[tuple[str, str]]:
        """(label, split) of every item: all the split check needs, without decoding audio."""
        return [(item.label, item.split) for item in self.items()]


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers numerically ("2" < "10")."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", text) if part]


def split_counts(n: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
                 ) -> tuple[int, int, int]:
    """(train, val, test) sizes of a class of `n` files; val and test round half up."""
    n_val = int(n * fractions[1] + 0.5)  # half up: 5 clips → 3 / 1 / 1
    n_test = int(n * fractions[2] + 0.5)
    return n - n_val - n_test, n_val, n_test


def stratified_split(ids: list[str], labels: list[str], seed: int,
                     fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> dict[str, str]:
    """Map each id to train/val/test: per class, a seeded shuffle cut 70/10/20.

    Each class gets its own generator (seed + a hash of its name), so adding a class or a file to
    one class leaves the other classes' splits unchanged.
    """
    by_label: dict[str, list[str]] = {}
    for item_id, label in zip(ids, labels):
        by_label.setdefault(label, []).append(item_id)
    result: dict[str, str] = {}
    for label, members in by_label.items():
        members = sorted(members)
        rng = np.random.default_rng([seed, zlib.crc32(label.encode())])
        order = rng.permutation(len(members))
        n_train, n_val, _ = split_counts(len(members), fractions)
        for rank, index in enumerate(order):
            split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
            result[members[index]] = split
    return result


def stat_digest(root: Path, paths: list[Path]) -> str:
    """A digest of names, sizes and modification times: changes when any file changes."""
    digest = hashlib.sha256()
    for path in paths:
        # Bytes of the name as the file system holds them: a name that is not valid UTF-8
        # hashes too (for every other name these are its UTF-8 bytes, as before).
        name = os.fsencode(path.relative_to(root).as_posix())
        try:
            stat = path.stat()
            digest.update(name + f"\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(name + b"\0missing\n")
    return digest.hexdigest()[:16]


def audio_files(directory: Path) -> list[Path]:
    """Every audio file below `directory` (hidden files left out), in a fixed order."""
    return sorted(
        (Path(base) / name for base, dirs, names in os.walk(directory)
         for name in names
         if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS),
        key=lambda p: p.as_posix())


def check_split_mode(split: str, *, official_ok: bool, spec: str) -> None:
    if split not in SPLIT_MODES:
        raise DataSourceError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_MODES)}")
    if split == "official" and not official_ok:
        raise DataSourceError(f"{spec} has no official split; use --split seed")
