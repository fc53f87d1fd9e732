"""Audio data sources: which files exist, their labels and their train/val/test split.

A source spec is `synthetic[:N]`, `fma:DIR` or `folder:DIR`. Nothing here decodes audio; the
feature cache (`objectives.features`) does. `identity()` is cheap (file stats, never contents)
and is what the feature cache key is made of.
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

# The documented, fixed class order of FMA small (label index i is FMA_GENRES[i]).
FMA_GENRES = ("International", "Pop", "Instrumental", "Hip-Hop", "Electronic", "Experimental",
              "Folk", "Rock")
FMA_COLUMNS = (("set", "subset"), ("set", "split"), ("track", "genre_top"))
FMA_OFFICIAL = {"training": "train", "validation": "val", "test": "test"}

# Formats libsndfile (≥ 1.1) decodes; librosa reads them without FFmpeg.
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif",
                              ".aifc", ".au", ".snd", ".caf", ".w64"})


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


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers numerically ("2" < "10")."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", text) if part]


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
        n_val = int(len(members) * fractions[1] + 0.5)  # half up: 5 clips → 3 / 1 / 1
        n_test = int(len(members) * fractions[2] + 0.5)
        n_train = len(members) - n_val - n_test
        for rank, index in enumerate(order):
            split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
            result[members[index]] = split
    return result


def _stat_digest(root: Path, paths: list[Path]) -> str:
    """A digest of names, sizes and modification times: changes when any file changes."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0"
                          f"{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path.relative_to(root).as_posix()}\0missing\n".encode())
    return digest.hexdigest()[:16]


def _audio_files(directory: Path) -> list[Path]:
    return sorted(
        (Path(base) / name for base, dirs, names in os.walk(directory)
         for name in names
         if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS),
        key=lambda p: p.as_posix())


def _check_split_mode(split: str, *, official_ok: bool, spec: str) -> None:
    if split not in SPLIT_MODES:
        raise DataSourceError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_MODES)}")
    if split == "official" and not official_ok:
        raise DataSourceError(f"{spec} has no official split; use --split seed")


class FolderSource(DataSource):
    """Labelled audio files: one sub-folder per class, or `LABEL_anything.ext` file names."""

    def __init__(self, root: Path, *, split: str = "seed", seed: int = 0) -> None:
        self.spec = f"folder:{root}"
        _check_split_mode(split, official_ok=False, spec=self.spec)
        self.root = Path(root).expanduser().resolve()
        self.split_mode, self.seed = split, seed
        if not self.root.is_dir():
            raise DataSourceError(f"audio folder {self.root} does not exist or is not a directory")
        self._files = _audio_files(self.root)
        if not self._files:
            raise DataSourceError(
                f"audio folder {self.root} holds no audio files "
                f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
        self._labels = [self._label(path) for path in self._files]
        self.classes = tuple(sorted(set(self._labels), key=natural_key))
        if len(self.classes) < 2:
            raise DataSourceError(
                f"audio folder {self.root} has a single class {self.classes[0]!r}; point --data at "
                "the folder that holds one sub-folder per class or LABEL_*.wav files")

    def _label(self, path: Path) -> str:
        relative = path.relative_to(self.root)
        if len(relative.parts) > 1:
            return relative.parts[0]
        label, sep, _ = path.stem.partition("_")
        if not sep or not label:
            raise DataSourceError(
                f"cannot tell the label of {path}: put files in one sub-folder per class of "
                f"{self.root}, or name them LABEL_rest{path.suffix}")
        return label

    def identity(self) -> dict:
        return {"kind": "folder", "root": str(self.root), "split": self.split_mode,
                "seed": self.seed, "files": len(self._files),
                "digest": _stat_digest(self.root, self._files)}

    def items(self) -> list[AudioItem]:
        ids = [path.relative_to(self.root).as_posix() for path in self._files]
        splits = stratified_split(ids, self._labels, self.seed)
        return [AudioItem(item_id, path, label, splits[item_id])
                for item_id, path, label in zip(ids, self._files, self._labels)]


class FmaSource(DataSource):
    """FMA small as distributed: DIR/fma_metadata/tracks.csv and DIR/fma_small/NNN/NNNNNN.mp3."""

    classes = FMA_GENRES

    def __init__(self, root: Path, *, split: str = "seed", seed: int = 0) -> None:
        self.spec = f"fma:{root}"
        _check_split_mode(split, official_ok=True, spec=self.spec)
        self.root = Path(root).expanduser().resolve()
        self.split_mode, self.seed = split, seed
        self.tracks_csv = self.root / "fma_metadata" / "tracks.csv"
        self.audio_dir = self.root / "fma_small"
        if not self.root.is_dir():
            raise DataSourceError(f"FMA directory {self.root} does not exist")
        if not self.tracks_csv.is_file():
            raise DataSourceError(
                f"FMA metadata {self.tracks_csv} not found; DIR must hold fma_metadata/ "
                "(from fma_metadata.zip) and fma_small/ (from fma_small.zip)")
        self._check_columns(self._read(nrows=0).columns)

    def _read(self, nrows: int | None = None):
        import pandas as pd  # only a data source needs pandas; keep `import objectives` light

        try:
            return pd.read_csv(self.tracks_csv, index_col=0, header=[0, 1], nrows=nrows,
                               low_memory=False)
        except (ValueError, IndexError, pd.errors.ParserError) as error:
            raise DataSourceError(f"cannot read FMA metadata {self.tracks_csv}: {error}") from None

    def _check_columns(self, columns) -> None:
        missing = [f"{a}/{b}" for a, b in FMA_COLUMNS if (a, b) not in columns]
        if missing:
            raise DataSourceError(
                f"FMA metadata {self.tracks_csv} lacks the column(s) {', '.join(missing)}; "
                "is it FMA's tracks.csv (two header rows)?")

    def path_of(self, track_id: int) -> Path:
        """FMA's layout: track 2 is fma_small/000/000002.mp3."""
        name = f"{int(track_id):06d}"
        return self.audio_dir / name[:3] / f"{name}.mp3"

    def identity(self) -> dict:
        stat = self.tracks_csv.stat()
        files = _audio_files(self.audio_dir) if self.audio_dir.is_dir() else []
        return {"kind": "fma", "root": str(self.root), "split": self.split_mode, "seed": self.seed,
                "tracks_csv": [stat.st_size, stat.st_mtime_ns], "files": len(files),
                "digest": _stat_digest(self.root, files)}

    def items(self) -> list[AudioItem]:
        tracks = self._read()
        self._check_columns(tracks.columns)
        small = tracks[tracks[("set", "subset")].astype(str) == "small"]
        if small.empty:
            raise DataSourceError(f"FMA metadata {self.tracks_csv} lists no track of subset small")
        genres = small[("track", "genre_top")]
        unknown = sorted(set(genres.astype(str)) - set(FMA_GENRES))
        if unknown:
            raise DataSourceError(
                f"FMA metadata {self.tracks_csv} has small-subset genres outside the 8 known ones: "
                f"{', '.join(unknown)}")
        ids = [f"{int(track_id):06d}" for track_id in small.index]
        labels = [str(genre) for genre in genres]
        if self.split_mode == "official":
            raw = small[("set", "split")].astype(str).tolist()
            bad = sorted(set(raw) - set(FMA_OFFICIAL))
            if bad:
                raise DataSourceError(f"FMA metadata {self.tracks_csv} has unknown set/split "
                                      f"values: {', '.join(bad)}")
            splits = dict(zip(ids, (FMA_OFFICIAL[value] for value in raw)))
        else:
            splits = stratified_split(ids, labels, self.seed)
        return [AudioItem(item_id, self.path_of(int(item_id)), label, splits[item_id])
                for item_id, label in zip(ids, labels)]


def parse_source(spec: str, *, cache_dir: Path, split: str = "seed", seed: int = 0) -> DataSource:
    """Turn a `--data` value into a source: `synthetic[:N]`, `fma:DIR` or `folder:DIR`.

    `cache_dir` is where the synthetic source writes its audio; `seed` chooses the seeded split.
    """
    scheme, sep, rest = spec.partition(":")
    if scheme == "synthetic":
        from objectives.synthetic import DEFAULT_PER_CLASS, SyntheticSource

        per_class = DEFAULT_PER_CLASS
        if sep:
            if not rest.isdigit() or int(rest) < 5:
                raise DataSourceError(
                    f"bad data source {spec!r}: synthetic:N needs N >= 5 clips per class")
            per_class = int(rest)
        _check_split_mode(split, official_ok=False, spec=spec)
        return SyntheticSource(Path(cache_dir), per_class=per_class, split_seed=seed)
    if scheme in ("fma", "folder") and sep and rest:
        cls = FmaSource if scheme == "fma" else FolderSource
        return cls(Path(rest), split=split, seed=seed)
    raise DataSourceError(
        f"unknown data source {spec!r}; use synthetic, synthetic:N, fma:DIR or folder:DIR")

