"""Saved models: the best-validation weights of a trial plus what is needed to rebuild and use it."""

from __future__ import annotations

import os
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
    """Write the model atomically: a crash mid-write never leaves a truncated file in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


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
