"""Batches of fixed-length windows cut from cached clips, without decoding anything.

Clips are padded once into one tensor (silence = -1, the floor of the scaled log-mel), so a batch
is a single gather: random crops in training, a centred window at evaluation time. With `device`
the padded tensor lives on that device (a GPU), so batches are gathered there and never cross
PCIe; the random draws stay on the CPU generator, so the windows are the same on every device
(they are drawn for the whole epoch when it starts, so an epoch cut short leaves the generator
further on than the CPU path would).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

SILENCE = -1.0  # (power_to_db floor of -80 dB + 40) / 40


def pad_clips(clips: Sequence[np.ndarray], min_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack clips (frames × n_mels) into (N, max(longest, min_frames), n_mels) plus lengths."""
    if not clips:
        raise ValueError("no clips to batch")
    n_mels = clips[0].shape[1]
    lengths = torch.tensor([len(clip) for clip in clips], dtype=torch.long)
    width = max(int(lengths.max()), min_frames)
    padded = torch.full((len(clips), width, n_mels), SILENCE, dtype=torch.float32)
    for row, clip in enumerate(clips):
        # A copy: cached clips are read-only memory maps.
        padded[row, : len(clip)] = torch.tensor(np.asarray(clip), dtype=torch.float32)
    return padded, lengths


@dataclass(frozen=True)
class PaddedClips:
    """Clips padded once into one tensor, with their lengths and labels (reusable across trials)."""

    data: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_clips(cls, clips: Sequence[np.ndarray], labels: np.ndarray,
                   min_frames: int) -> PaddedClips:
        data, lengths = pad_clips(clips, min_frames)
        return cls(data, lengths, torch.as_tensor(np.asarray(labels), dtype=torch.long))


class WindowBatches:
    """An iterable of (windows, labels) batches over padded clips.

    Training: shuffled, each clip cropped at a random start (a new draw every epoch).
    Evaluation: in order, each clip's centred window; clips shorter than the window keep their
    start and are padded with silence, so the result never depends on a random draw.
    """

    def __init__(self, clips: Sequence[np.ndarray] | PaddedClips, labels: np.ndarray | None = None,
                 *, frames: int, batch_size: int, train: bool, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        """`clips` with their `labels`, or a `PaddedClips` padded once to at least `frames`."""
        padded = clips if isinstance(clips, PaddedClips) else \
            PaddedClips.from_clips(clips, labels, frames)
        if padded.data.shape[1] < frames:
            raise ValueError(f"clips padded to {padded.data.shape[1]} frames, need {frames}")
        data, self.lengths, labels = padded.data, padded.lengths, padded.labels
        self.device = torch.device(device) if device is not None else None
        self.data = data.to(self.device) if self.device is not None else data
        self.labels = labels.to(self.device) if self.device is not None else labels
        self.frames = frames
        self.batch_size = batch_size
        self.train = train
        self._generator = torch.Generator().manual_seed(seed)
        self._offsets = torch.arange(frames)

    def generator_state(self) -> torch.Tensor:
        """The crop-and-order generator's state (a resume checkpoint keeps it)."""
        return self._generator.get_state()

    def set_generator_state(self, state: torch.Tensor) -> None:
        self._generator.set_state(state)

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def _starts(self, rows: torch.Tensor) -> torch.Tensor:
        slack = (self.lengths[rows] - self.frames).clamp(min=0)
        if self.train:
            return (torch.rand(len(rows), generator=self._generator) * (slack + 1)).long()
        return slack // 2

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        count = len(self.labels)
        order = torch.randperm(count, generator=self._generator) if self.train else torch.arange(count)
        if self.device is not None:
            yield from self._on_device(order)
            return
        for first in range(0, count, self.batch_size):
            rows = order[first : first + self.batch_size]
            columns = self._starts(rows)[:, None] + self._offsets[None, :]
            yield self.data[rows[:, None], columns], self.labels[rows]

    def _on_device(self, order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # The same draws as the CPU path, made up front: the epoch's rows and starts then cross
        # to the device in one copy, and no batch waits on a host-to-device transfer.
        starts = torch.cat([self._starts(order[first : first + self.batch_size])
                            for first in range(0, len(order), self.batch_size)])
        order, starts = order.to(self.device), starts.to(self.device)
        offsets = self._offsets.to(self.device)
        for first in range(0, len(order), self.batch_size):
            rows = order[first : first + self.batch_size]
            columns = starts[first : first + self.batch_size, None] + offsets[None, :]
            yield self.data[rows[:, None], columns], self.labels[rows]
