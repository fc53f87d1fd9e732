"""Accuracy of a saved model on a labelled data source (how a user checks it on new recordings)."""

from __future__ import annotations

from pathlib import Path

import torch

from objectives.batches import WindowBatches
from objectives.checkpoint import load_checkpoint
from objectives.data import SPLITS, load_labelled_clips


def evaluate_checkpoint(model_path: Path, data: str, cache_dir: Path, *, split: str = "all",
                        seed: int = 0) -> dict:
    """Featurize `data` with the model's own feature settings and report its accuracy.

    `split` is "all" (every usable clip: the usual case for new recordings) or one of
    train/val/test of the source's split. Labels are matched to the model's classes by name.
    """
    model, meta = load_checkpoint(model_path)
    wanted = SPLITS if split == "all" else (split,)
    if split != "all" and split not in SPLITS:
        raise ValueError(f"split must be all, train, val or test; got {split!r}")
    clips, key = load_labelled_clips(data, meta["features"], meta["classes"], Path(cache_dir),
                                     frames=meta["train"].eval_frames, splits=wanted, seed=seed)
    batches = WindowBatches(clips, frames=meta["train"].eval_frames, batch_size=64, train=False)
    predictions = []
    with torch.no_grad():
        for windows, _ in batches:
            logits, _ = model(windows)
            predictions.append(logits.argmax(dim=1))
    predicted = torch.cat(predictions).numpy()
    truth = clips.labels.numpy()
    per_class = {name: round(float((predicted[truth == i] == i).mean()), 4)
                 for i, name in enumerate(meta["classes"]) if (truth == i).any()}
    return {"model": str(model_path), "data": data, "split": split, "clips": len(truth),
            "accuracy": round(float((predicted == truth).mean()), 4), "per_class": per_class,
            "feature_cache_key": key}
