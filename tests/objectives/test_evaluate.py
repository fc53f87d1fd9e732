"""A saved model scored on other recordings, through the data package's labelled-clips path."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from objectives.checkpoint import save_checkpoint
from objectives.data import DataSourceError, cache_key
from objectives.data.folder import FolderSource
from objectives.evaluate import evaluate_checkpoint
from objectives.model import ReconBiLSTM
from objectives.profiles import get_profile
from objectives.search_space import TrialParams

QUICK = get_profile("quick")


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = ReconBiLSTM(QUICK.features.n_mels, 3, hidden=16, dropout=0.0)
    return save_checkpoint(tmp_path / "model.pt", model, classes=("a", "b", "c"),
                           params=TrialParams(lam=0.0, dropout=0.0, hidden=16), profile=QUICK,
                           outcome=SimpleNamespace(val_accuracy=0.5, test_accuracy=0.5))


def _recordings(root: Path, labels: tuple[str, ...], per_class: int = 2) -> Path:
    root.mkdir()
    t = np.arange(4000) / 8000
    for c, label in enumerate(labels):
        for n in range(per_class):
            wave = 0.3 * np.sin(2 * np.pi * (300 + 400 * c + 30 * n) * t)
            sf.write(root / f"{label}_{n}.wav", wave.astype(np.float32), 8000)
    return root


def test_all_clips_of_a_source_without_val_clips(tmp_path, model_path):
    root = _recordings(tmp_path / "new", ("c", "b"))  # 2 files per class: no val, no test
    result = evaluate_checkpoint(model_path, f"folder:{root}", tmp_path / "cache")
    assert result["clips"] == 4 and result["split"] == "all"
    assert set(result["per_class"]) == {"b", "c"} and 0.0 <= result["accuracy"] <= 1.0
    assert result["feature_cache_key"] == cache_key(FolderSource(root), QUICK.features)
    with pytest.raises(DataSourceError, match="no usable clips in split"):
        evaluate_checkpoint(model_path, f"folder:{root}", tmp_path / "cache", split="val")


def test_labels_the_model_lacks_are_named(tmp_path, model_path):
    root = _recordings(tmp_path / "new", ("a", "dog"))
    with pytest.raises(DataSourceError, match="not trained on: dog"):
        evaluate_checkpoint(model_path, f"folder:{root}", tmp_path / "cache")
