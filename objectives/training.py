"""Training one configuration on padded clips: the loop every trial, CLI and ablation shares."""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.plugins.environments import LightningEnvironment

from objectives.batches import PaddedClips, WindowBatches
from objectives.checkpoint import save_checkpoint
from objectives.data import SPLITS, TrainingData, split_frames
from objectives.lightning_module import ReconstructionClassifier
from objectives.profiles import Profile
from objectives.resume import EpochCheckpoints, ResumeFile, ResumeSlot
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
    test_labels: list[int] = field(default_factory=list)  # class index per test clip
    test_predictions: list[int] = field(default_factory=list)  # of the best-validation weights
    holdout_accuracy: float | None = None  # when the data holds a holdout source
    holdout_labels: list[int] = field(default_factory=list)
    holdout_predictions: list[int] = field(default_factory=list)
    resumed_at: int | None = None  # the first epoch this run trained, when it resumed
    checkpoint_saves: list[tuple[float, int]] = field(default_factory=list)  # (s, bytes) each


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

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.state = state["best"], state["best_epoch"], state["state"]


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


def configure_threads(threads: int = 1) -> int:
    """Set torch's intra-op threads (the service passes $STUDY_THREADS, default 1).

    The LSTM's matrices are small: a second thread gains little on an idle machine, and on a
    busy one (other workers, other jobs) oversubscribed threads made a training step ~20× slower
    in our measurements. Parallelism comes from running several worker processes instead.
    """
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    return threads


def _uninterrupted(call: Callable[[], object]) -> object:
    """Run a Trainer entry point; an interrupt stays an interrupt.

    On Ctrl-C (or SIGTERM turned into KeyboardInterrupt) Lightning shuts down and calls
    `sys.exit(1)`, and on its own SIGTERM handling it raises SIGTERMException (a SystemExit):
    callers such as Optuna record exceptions and interrupts, not exits, and would leave the
    trial RUNNING.
    """
    try:
        return call()
    except SystemExit as exc:
        raise KeyboardInterrupt(f"training stopped by Lightning (exit {exc.code})") from exc


def _predict(trainer: Trainer, module: ReconstructionClassifier,
             batches: WindowBatches) -> tuple[list[int], list[int]]:
    """(labels, predicted classes) of every clip, in order, with the trainer's precision."""
    predicted = _uninterrupted(lambda: trainer.predict(module, dataloaders=batches))
    return batches.labels.tolist(), torch.cat(predicted).cpu().tolist()


def _accuracy(labels: list[int], predictions: list[int]) -> float:
    return sum(a == b for a, b in zip(labels, predictions, strict=True)) / max(len(labels), 1)


def quiet_lightning() -> None:
    """Lightning's banners ('GPU available…', tips) would drown a worker's log in every trial."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Your `IterableDataset` has `__len__` defined.*")
    # Lightning looks for SLURM even with LightningEnvironment given, and on any host with
    # SLURM installed advises `srun`, which a one-device trial must not use.
    warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system.*")


def train_configuration(data: TrainingData, params: TrialParams, profile: Profile, *,
                        seed: int = 0, max_epochs: int | None = None, device: str = "auto",
                        extra_callbacks: Sequence[Callback] = (),
                        checkpoint_path: Path | None = None,
                        resume: ResumeSlot | None = None,
                        progress: bool = False, precision: str | None = None,
                        resident: bool | None = None) -> TrainOutcome:
    """Train `params` on the data's train split, pick the best validation epoch, test it.

    `data` (from `objectives.data.load_training_data`) holds clips padded once per worker, so no
    trial pads them again. The best-validation weights are written to `checkpoint_path`
    (atomically) when one is given, and predict every test clip (and every holdout clip).
    `precision` (Lightning's) defaults to the profile's on a GPU and fp32 on a CPU; `resident`
    (the padded clips in GPU memory, so no batch crosses PCIe) defaults to on for a GPU.
    """
    settings = profile.train
    epochs = max_epochs or settings.max_epochs
    device = resolve_device(device)
    on_gpu = device.startswith("cuda")
    if on_gpu and ":" not in device:
        device = "cuda:0"
    resident = on_gpu if resident is None else resident and on_gpu
    seed_everything(seed, workers=True, verbose=False)

    def batches_of(clips: PaddedClips, split: str) -> WindowBatches:
        return WindowBatches(clips, frames=split_frames(split, settings),
                             batch_size=settings.batch_size, train=split == "train", seed=seed,
                             device=device if resident else None)

    batches = {split: batches_of(data.splits[split], split) for split in SPLITS}
    module = ReconstructionClassifier(data.n_mels, len(data.classes), params, settings)
    best = BestWeights()
    saving = [] if resume is None else \
        [EpochCheckpoints(resume, batches["train"], max_epochs=epochs)]
    trainer = Trainer(max_epochs=epochs, accelerator="gpu" if on_gpu else "cpu",
                      precision=precision or (settings.precision if on_gpu else "32-true"),
                      devices=[int(device.split(":")[1])] if on_gpu else 1,
                      logger=False, enable_checkpointing=False,
                      enable_progress_bar=progress, enable_model_summary=False,
                      num_sanity_val_steps=0, callbacks=[best, *extra_callbacks, *saving],
                      # A trial is one process on one device. Inside a SLURM job Lightning would
                      # otherwise pick SLURMEnvironment: SIGUSR1 would save a checkpoint into the
                      # working directory and requeue the whole job, and `--ntasks` > 1 would be
                      # refused; outside one, an installed `srun` warns in every trial.
                      plugins=[LightningEnvironment()])
    started = time.perf_counter()
    with ResumeFile(resume) as saved:
        _uninterrupted(lambda: trainer.fit(module, train_dataloaders=batches["train"],
                                           val_dataloaders=batches["val"],
                                           ckpt_path=saved.path))
    epochs_run = len(module.val_curve)
    if best.state is not None:
        module.load_state_dict(best.state)
    test_labels, test_predictions = _predict(trainer, module, batches["test"])
    holdout: dict = {}
    if data.holdout is not None:
        labels, predictions = _predict(trainer, module, batches_of(data.holdout, "test"))
        holdout = {"holdout_accuracy": _accuracy(labels, predictions),
                   "holdout_labels": labels, "holdout_predictions": predictions}
    seconds = time.perf_counter() - started
    outcome = TrainOutcome(
        val_accuracy=float(module.best_val_acc),
        test_accuracy=_accuracy(test_labels, test_predictions),
        epochs=epochs_run, seconds=seconds, device=describe_device(device),
        best_epoch=best.best_epoch, val_curve=list(module.val_curve),
        stopped_early=epochs_run < epochs, test_labels=test_labels,
        test_predictions=test_predictions,
        resumed_at=saving[0].resumed_at if saving else None,
        checkpoint_saves=list(saving[0].saves) if saving else [], **holdout)
    if checkpoint_path is not None:
        save_checkpoint(checkpoint_path, module.model, classes=data.classes, params=params,
                        profile=profile, outcome=outcome)
    return outcome
