"""`fma:DIR`: FMA small as distributed, DIR/fma_metadata/tracks.csv and DIR/fma_small/NNN/*.mp3.

Labels are `('track', 'genre_top')` in FMA's documented class order; the split is seeded and
stratified, or FMA's own `('set', 'split')` with `--split official`.
"""

from __future__ import annotations

from pathlib import Path

from objectives.data.base import (
    AudioItem,
    DataSource,
    DataSourceError,
    audio_files,
    check_split_mode,
    stat_digest,
    stratified_split,
)

# The documented, fixed class order of FMA small (label index i is FMA_GENRES[i]).
FMA_GENRES = ("International", "Pop", "Instrumental", "Hip-Hop", "Electronic", "Experimental",
              "Folk", "Rock")
FMA_COLUMNS = (("set", "subset"), ("set", "split"), ("track", "genre_top"))
FMA_OFFICIAL = {"training": "train", "validation": "val", "test": "test"}


class FmaSource(DataSource):
    """FMA small as distributed: DIR/fma_metadata/tracks.csv and DIR/fma_small/NNN/NNNNNN.mp3."""

    classes = FMA_GENRES

    def __init__(self, root: Path, *, split: str = "seed", seed: int = 0) -> None:
        self.spec = f"fma:{root}"
        check_split_mode(split, official_ok=True, spec=self.spec)
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
        files = audio_files(self.audio_dir) if self.audio_dir.is_dir() else []
        return {"kind": "fma", "root": str(self.root), "split": self.split_mode, "seed": self.seed,
                "tracks_csv": [stat.st_size, stat.st_mtime_ns], "files": len(files),
                "digest": stat_digest(self.root, files)}

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
