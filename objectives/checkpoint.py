"""Saved models: the best-validation weights of a trial plus what is needed to rebuild and use it."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from objectives.model import ReconBiLSTM
from objectives.profiles import FeatureSettings, Profile, TrainSettings
from objectives.search_space import TrialParams

FORMAT = "recon-lambda-model/1"


def save_checkpoint(path: Path, model: ReconBiLSTM, *, classes, params: TrialParams,
                    profile: Profile, outcome: Any) -> Path:
    """Write the model atomically: a crash mid-write never leaves a truncated file in place.

    A failed write (a full disk, a read-only or missing directory) raises CheckpointError naming
    the cause, and leaves neither a temporary file nor an open handle behind.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(classes),
        "params": params.as_dict(),
        "profile": profile.name,
        "features": profile.features.as_dict(),
        "train": profile.train.as_dict(),
        "val_accuracy": outcome.val_accuracy,
        "test_accuracy": outcome.test_accuracy,
    }
    # Serialized in memory, then written with plain file I/O: torch's own writer reports a full
    # disk as "unexpected pos", and a failed torch.save keeps its file open while the exception
    # lives (a worker keeps its last error), so a deleted temporary file never frees its space.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        _write_atomic(path, buffer.getbuffer())
    except OSError as error:
        raise CheckpointError(_save_failure(path, error, buffer.getbuffer().nbytes)) from error
    return path


def _write_atomic(path: Path, data: memoryview) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:  # closed on every path, a failed write included
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _save_failure(path: Path, error: OSError, size: int) -> str:
    """One line: what could not be written, why, and what to do."""
    where = next((parent for parent in path.parents if parent.exists()), path.parent)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f", {_megabytes(shutil.disk_usage(where).free)} free"
        except OSError:
            free = ""
        cause = "no space left on" if error.errno == errno.ENOSPC else "disk quota exceeded on"
        return (f"cannot save the model {path}: {cause} {where} (it needs "
                f"{_megabytes(size)}{free}); free some space there or save models elsewhere")
    if not where.is_dir():
        reason = f"{where} is a file, not a directory"
    else:
        reason = error.strerror or str(error)
        if error.filename and Path(error.filename) in path.parents:  # a directory, not ours
            reason += f" ({error.filename})"
    return f"cannot save the model {path}: {reason}; save models to a writable directory"


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 10_000 else f"{n} bytes"


class CheckpointError(ValueError):
    pass


def load_checkpoint(path: Path) -> tuple[ReconBiLSTM, dict[str, Any]]:
    """The model (eval mode, on CPU) and its metadata; a clear error for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise CheckpointError(f"{path} is not a readable model file ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a model saved by this project (format {FORMAT})")
    params = TrialParams(**payload["params"])
    features = FeatureSettings(**payload["features"])
    model = ReconBiLSTM(features.n_mels, len(payload["classes"]), params.hidden, params.dropout)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    payload["features"] = features
    payload["train"] = TrainSettings(**payload["train"])
    payload["params"] = params
    return model, payload
