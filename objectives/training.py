"""Training one configuration on padded clips: the loop every trial, CLI and ablation shares."""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from objectives.batches import WindowBatches
from objectives.checkpoint import save_checkpoint
from objectives.data import SPLITS, TrainingData, split_frames
from objectives.lightning_module import ReconstructionClassifier
from objectives.profiles import Profile
from objectives.search_space import TrialParams


@dataclass(frozen=True)
class TrainOutcome:
    val_accuracy: float  # best over epochs: the objective value
    test_accuracy: float  # of the best-validation weights
    epochs: int
    seconds: float
    device: str
    best_epoch: int
    val_curve: list[float] = field(default_factory=list)
    stopped_early: bool = False  # a callback (e.g. pruning) ended training before max_epochs


class BestWeights(Callback):
    """Keeps a copy of the weights of the epoch with the best validation accuracy."""

    def __init__(self) -> None:
        self.best = -1.0
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: Trainer, pl_module: ReconstructionClassifier) -> None:
        if trainer.sanity_checking or not pl_module.val_curve:
            return
        accuracy = pl_module.val_curve[-1]
        if accuracy > self.best:
            self.best, self.best_epoch = accuracy, trainer.current_epoch
            self.state = copy.deepcopy(pl_module.state_dict())


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'; anything else is passed through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA GPU is visible")
    return device


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        return f"cuda:{torch.cuda.get_device_name()}"
    return f"cpu:{torch.get_num_threads()} threads"


THREADS_ENV = "STUDY_THREADS"  # the worker launcher sets it so CPU processes share the cores


def configure_threads(environ=None) -> int:
    """Set torch's intra-op threads from $STUDY_THREADS, default 1.

    The LSTM's matrices are small: a second thread gains little on an idle machine, and on a
    busy one (other workers, other jobs) oversubscribed threads made a training step ~20× slower
    in our measurements. Parallelism comes from running several worker processes instead.
    """
    environ = os.environ if environ is None else environ
    threads = max(1, int(environ.get(THREADS_ENV) or 1))
    torch.set_num_threads(threads)
    return threads


def quiet_lightning() -> None:
    """Lightning's banners ('GPU available…', tips) would drown a worker's log in every trial."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Your `IterableDataset` has `__len__` defined.*")


def train_configuration(data: TrainingData, params: TrialParams, profile: Profile, *,
                        seed: int = 0, max_epochs: int | None = None, device: str = "auto",
                        extra_callbacks: Sequence[Callback] = (),
                        checkpoint_path: Path | None = None,
                        progress: bool = False) -> TrainOutcome:
    """Train `params` on the data's train split, pick the best validation epoch, test it.

    `data` (from `objectives.data.load_training_data`) holds clips padded once per worker, so no
    trial pads them again. The best-validation weights are written to `checkpoint_path`
    (atomically) when one is given.
    """
    settings = profile.train
    epochs = max_epochs or settings.max_epochs
    device = resolve_device(device)
    on_gpu = device.startswith("cuda")
    if on_gpu and ":" not in device:
        device = "cuda:0"
    seed_everything(seed, workers=True, verbose=False)
    # On a GPU the padded clips live in its memory, so no batch ever crosses PCIe.
    batches = {split: WindowBatches(data.splits[split], frames=split_frames(split, settings),
                                    batch_size=settings.batch_size, train=split == "train",
                                    seed=seed, device=device if on_gpu else None)
               for split in SPLITS}
    module = ReconstructionClassifier(data.n_mels, len(data.classes), params, settings)
    best = BestWeights()
    trainer = Trainer(max_epochs=epochs, accelerator="gpu" if on_gpu else "cpu",
                      precision=settings.precision if on_gpu else "32-true",
                      devices=[int(device.split(":")[1])] if on_gpu else 1,
                      logger=False, enable_checkpointing=False,
                      enable_progress_bar=progress, enable_model_summary=False,
                      num_sanity_val_steps=0, callbacks=[best, *extra_callbacks])
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=batches["train"], val_dataloaders=batches["val"])
    epochs_run = len(module.val_curve)
    if best.state is not None:
        module.load_state_dict(best.state)
    trainer.test(module, dataloaders=batches["test"], verbose=False)
    seconds = time.perf_counter() - started
    outcome = TrainOutcome(
        val_accuracy=float(module.best_val_acc), test_accuracy=module.test_acc,
        epochs=epochs_run, seconds=seconds, device=describe_device(device),
        best_epoch=best.best_epoch, val_curve=list(module.val_curve),
        stopped_early=epochs_run < epochs)
    if checkpoint_path is not None:
        save_checkpoint(checkpoint_path, module.model, classes=data.classes, params=params,
                        profile=profile, outcome=outcome)
    return outcome
