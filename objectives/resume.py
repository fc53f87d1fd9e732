"""Resume checkpoints: a trial's whole training state, saved every few epochs while it trains, so
that a run cut off (preempted, killed, requeued) continues from its last saved epoch.

Not the saved model (`objectives.checkpoint`, the best-validation weights a finished trial
keeps): a resume checkpoint is Lightning's full checkpoint (model, optimizer, scheduler, loop
counters, every callback's state: the best weights so far, the validation curve) plus the random
state (torch's generators and the training batches' crop/order generator), so that on a CPU a
resumed run repeats the uncut run's epochs bit for bit. It is deleted when the run ends.

Where it is kept is the caller's business: the service passes a `ResumeSlot` (a location that
survives the process, e.g. the study's artifact store); training never sees a trial.
"""

from __future__ import annotations

import io
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from objectives.resume_slot import DEFAULT_EVERY, DirectorySlot, ResumeSlot

__all__ = ["DEFAULT_EVERY", "DirectorySlot", "EpochCheckpoints", "ResumeFile", "ResumeSlot"]

FORMAT = "recon-lambda-resume/1"


class EpochCheckpoints(Callback):
    """Saves the trainer's full state to `slot` every `slot.every` epochs (after validation) and
    restores the random state of a resumed run before its first epoch.

    `batches`: the training batches, whose generator (window crops and order) is part of the
    state. `pl_module.val_curve` and the other callbacks' states ride in Lightning's checkpoint.
    """

    def __init__(self, slot: ResumeSlot, batches: Any, *, max_epochs: int) -> None:
        self.slot, self.batches, self.max_epochs = slot, batches, max_epochs
        self.saves: list[tuple[float, int]] = []  # (seconds, bytes) per save: the benchmark's
        self.resumed_at: int | None = None  # the first epoch trained after a resume
        self._pending_rng: dict | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "rng": _rng_state(self.batches)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending_rng = state["rng"]  # applied when training starts, not mid-restore

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._pending_rng is not None:
            _set_rng_state(self._pending_rng, self.batches)
            self._pending_rng = None
            self.resumed_at = trainer.current_epoch

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        done = trainer.current_epoch + 1
        if (trainer.sanity_checking or trainer.should_stop or done >= self.max_epochs
                or done % max(1, self.slot.every)):
            return
        started = time.perf_counter()
        data = checkpoint_bytes(trainer)
        self.slot.write(data)
        self.saves.append((time.perf_counter() - started, len(data)))


def checkpoint_bytes(trainer: Trainer) -> bytes:
    """Lightning's full checkpoint of `trainer`, as bytes (its writer wants a path)."""
    with tempfile.TemporaryDirectory(prefix="resume-") as directory:
        path = Path(directory) / "state.ckpt"
        trainer.save_checkpoint(path)
        return path.read_bytes()


class ResumeFile:
    """A resume checkpoint's bytes as the local file Lightning's `fit(ckpt_path=...)` reads;
    None when the slot holds nothing usable (then one line says training starts at epoch 0)."""

    def __init__(self, slot: ResumeSlot | None) -> None:
        self.slot = slot
        self._directory: tempfile.TemporaryDirectory | None = None
        self.path: Path | None = None

    def __enter__(self) -> ResumeFile:  # noqa: PYI034 - not subclassed
        if self.slot is None:
            return self
        try:
            data = self.slot.read()
        except OSError as exc:
            _say(f"resume checkpoint {self.slot.describe()} is unreadable ({exc.strerror}); "
                 "training starts at epoch 0")
            return self
        if data is None:
            return self
        problem = _check(data)
        if problem:
            _say(f"resume checkpoint {self.slot.describe()} is unusable ({problem}); "
                 "training starts at epoch 0")
            return self
        self._directory = tempfile.TemporaryDirectory(prefix="resume-")
        self.path = Path(self._directory.name) / "state.ckpt"
        self.path.write_bytes(data)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._directory is not None:
            self._directory.cleanup()


def _say(message: str) -> None:
    # One line on stderr, as every worker warning: a restart from epoch 0 is not an error.
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _check(data: bytes) -> str | None:
    """Why `data` is not a resume checkpoint this code wrote (None: it is)."""
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, garbage, wrong pickle: all "corrupt"
        return f"corrupt: {type(exc).__name__}"
    callbacks = state.get("callbacks", {}) if isinstance(state, dict) else {}
    if not any(isinstance(v, dict) and v.get("format") == FORMAT for v in callbacks.values()):
        return "not a resume checkpoint of this version"
    return None


def _rng_state(batches: Any) -> dict[str, Any]:
    # Plain tensors, tuples and numbers only: Lightning loads checkpoints with weights_only.
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "batches": batches.generator_state(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(position),
                       int(has_gauss), float(gauss)),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], batches: Any) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])
    batches.set_generator_state(state["batches"])
    if "cuda" in state and torch.cuda.is_available() and \
            len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
