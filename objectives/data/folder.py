"""`folder:DIR`: labelled audio files, one sub-folder per class or `LABEL_anything.ext` names.

A file whose name is not valid UTF-8 is skipped and reported (it cannot be named in an index,
a hash or JSON); a folder that mixes the two layouts is refused, because its sub-folders would
silently become extra classes.
"""

from __future__ import annotations

import os
from pathlib import Path

from objectives.data.base import (
    AUDIO_EXTENSIONS,
    AudioItem,
    DataSource,
    DataSourceError,
    audio_files,
    check_split_mode,
    natural_key,
    stat_digest,
    stratified_split,
)

SHOWN_FOLDERS = 5  # sub-folders named in the mixed-layout error
_BAD_NAME = "file name is not valid UTF-8: {}; rename the file to use it"


def printable(name: str) -> str:
    """`name` with bytes that are not valid UTF-8 shown as backslash escapes (`caf\\xe9.wav`)."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def _valid_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.walk keeps undecodable bytes as lone surrogates
        return False
    return True


class FolderSource(DataSource):
    """Labelled audio files: one sub-folder per class, or `LABEL_anything.ext` file names."""

    def __init__(self, root: Path, *, split: str = "seed", seed: int = 0) -> None:
        self.spec = f"folder:{root}"
        check_split_mode(split, official_ok=False, spec=self.spec)
        self.root = Path(root).expanduser().resolve()
        self.split_mode, self.seed = split, seed
        if not self.root.is_dir():
            raise DataSourceError(f"audio folder {self.root} does not exist or is not a directory")
        self._all_files = audio_files(self.root)
        if not self._all_files:
            raise DataSourceError(
                f"audio folder {self.root} holds no audio files "
                f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
        relative = [path.relative_to(self.root).as_posix() for path in self._all_files]
        self._skipped = [(printable(name), _BAD_NAME.format(printable(name)))
                         for name in relative if not _valid_utf8(name)]
        self._files = [path for path, name in zip(self._all_files, relative) if _valid_utf8(name)]
        if not self._files:
            raise DataSourceError(f"audio folder {self.root}: no audio file has a valid UTF-8 "
                                  "name; rename the files")
        self._check_one_layout()
        self._labels = [self._label(path) for path in self._files]
        self.classes = tuple(sorted(set(self._labels), key=natural_key))
        if len(self.classes) < 2:
            raise DataSourceError(
                f"audio folder {self.root} has a single class {self.classes[0]!r}; point --data at "
                "the folder that holds one sub-folder per class or LABEL_*.wav files")

    def _check_one_layout(self) -> None:
        top, below = 0, {}
        for path in self._files:
            parts = path.relative_to(self.root).parts
            if len(parts) == 1:
                top += 1
            else:
                below[parts[0]] = below.get(parts[0], 0) + 1
        if not top or not below:
            return
        names = sorted(below, key=natural_key)
        shown = ", ".join(f"{name}/ ({below[name]} file{'s' * (below[name] != 1)})"
                          for name in names[:SHOWN_FOLDERS])
        more = f" and {len(names) - SHOWN_FOLDERS} more" if len(names) > SHOWN_FOLDERS else ""
        raise DataSourceError(
            f"audio folder {self.root} mixes two layouts: {top} audio file(s) at its top level "
            f"and audio in sub-folder(s) {shown}{more}; use one layout, either one sub-folder per "
            "class (CLASS/anything.wav) or LABEL_anything.wav files at the top level, and move "
            "the other files out")

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
                "seed": self.seed, "files": len(self._all_files),
                "digest": stat_digest(self.root, self._all_files)}

    def items(self) -> list[AudioItem]:
        ids = [path.relative_to(self.root).as_posix() for path in self._files]
        splits = stratified_split(ids, self._labels, self.seed)
        return [AudioItem(item_id, path, label, splits[item_id])
                for item_id, path, label in zip(ids, self._files, self._labels)]

    def skipped(self) -> list[tuple[str, str]]:
        return list(self._skipped)
