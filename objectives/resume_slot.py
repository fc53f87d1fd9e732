"""Where a resume checkpoint lives (`objectives.resume`): the protocol the caller provides and a
directory implementation. No torch here: the service imports it in every worker, mock ones too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

# Epochs between saves unless the slot says otherwise. bench/resume_checkpoint.py measured a save
# at 0.09-0.12 s (2.7-12 MB) at the quick and paper baseline shapes: every 4 epochs keeps it near
# 1.5 % of a ~2 s paper-shape GPU epoch and loses at most 3 epochs (BENCHMARKS.md, "Resume
# checkpoints").
DEFAULT_EVERY = 4


class ResumeSlot(Protocol):
    """Where one run's resume checkpoint lives; provided by the caller (the study layer)."""

    every: int  # epochs between saves

    def read(self) -> bytes | None: ...  # None: nothing saved

    def write(self, data: bytes) -> None: ...

    def delete(self) -> None: ...

    def describe(self) -> str: ...  # for the one log line


class DirectorySlot:
    """A resume checkpoint in a directory (shared across hosts when the directory is), written
    atomically so that a kill mid-save leaves the previous checkpoint in place."""

    def __init__(self, path: Path, every: int = DEFAULT_EVERY) -> None:
        self.path, self.every = Path(path), every

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def describe(self) -> str:
        return str(self.path)
