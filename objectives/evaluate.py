"""Accuracy of a saved model on a labelled data source (how a user checks it on new recordings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from objectives.batches import WindowBatches
from objectives.checkpoint import load_checkpoint

SPLITS = ("train", "val", "test")


def evaluate_checkpoint(model_path: Path, data: str, cache_dir: Path, *, split: str = "all",
                        seed: int = 0) -> dict:
    """Featurize `data` with the model's own feature settings and report its accuracy.

    `split` is "all" (every usable clip: the usual case for new recordings) or one of
    train/val/test of the source's split. Labels are matched to the model's classes by name.
    """
    from objectives.features import build_cache
    from objectives.sources import parse_source

    model, meta = load_checkpoint(model_path)
    source = parse_source(data, cache_dir=Path(cache_dir), seed=seed)
    cache = build_cache(source, meta["features"], Path(cache_dir), progress=False)
    unknown = sorted(set(cache.classes) - set(meta["classes"]))
    if unknown:
        raise ValueError(f"{data} has labels the model was not trained on: {', '.join(unknown)} "
                         f"(model classes: {', '.join(meta['classes'])})")
    wanted = SPLITS if split == "all" else (split,)
    if split != "all" and split not in SPLITS:
        raise ValueError(f"split must be all, train, val or test; got {split!r}")
    clips, labels = [], []
    to_model = np.array([meta["classes"].index(name) for name in cache.classes], dtype=np.int64)
    for name in wanted:
        split_clips, split_labels = cache.split(name)
        clips.extend(split_clips)
        labels.extend(to_model[np.asarray(split_labels, dtype=np.int64)].tolist())
    if not clips:
        raise ValueError(f"{data} has no usable clips in split {split!r}")
    batches = WindowBatches(clips, np.asarray(labels), frames=meta["train"].eval_frames,
                            batch_size=64, train=False)
    predictions = []
    with torch.no_grad():
        for windows, _ in batches:
            logits, _ = model(windows)
            predictions.append(logits.argmax(dim=1))
    predicted = torch.cat(predictions).numpy()
    truth = np.asarray(labels)
    per_class = {name: round(float((predicted[truth == i] == i).mean()), 4)
                 for i, name in enumerate(meta["classes"]) if (truth == i).any()}
    return {"model": str(model_path), "data": data, "split": split, "clips": len(truth),
            "accuracy": round(float((predicted == truth).mean()), 4), "per_class": per_class,
            "feature_cache_key": cache.key}
