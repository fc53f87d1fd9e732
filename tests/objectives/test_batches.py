from __future__ import annotations

import numpy as np
import pytest
import torch

from objectives.batches import SILENCE, WindowBatches


def _clips():
    lengths = [10, 3, 7]
    return [np.full((n, 2), float(i), dtype=np.float32) + np.arange(n)[:, None] / 100
            for i, n in enumerate(lengths)], np.array([0, 1, 2])


def test_evaluation_windows_are_centred_and_deterministic():
    clips, labels = _clips()
    batches = WindowBatches(clips, labels, frames=4, batch_size=2, train=False)
    first = [x.clone() for x, _ in batches]
    second = [x for x, _ in batches]
    assert first and all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    windows = torch.cat(first)
    assert windows.shape == (3, 4, 2)
    # clip 0 has 10 frames: centred window starts at (10 - 4) // 2 = 3
    assert torch.allclose(windows[0, :, 0], torch.tensor([0.03, 0.04, 0.05, 0.06]))
    # clip 1 has 3 frames: kept from the start, padded with silence
    assert windows[1, 3, 0] == SILENCE and windows[1, 0, 0] == 1.0


def test_training_crops_are_random_within_the_clip():
    clips, labels = _clips()
    batches = WindowBatches(clips, labels, frames=4, batch_size=3, train=True, seed=1)
    starts = set()
    for _ in range(20):
        windows, y = next(iter(batches))
        row = int((y == 0).nonzero()[0])
        starts.add(round(float(windows[row, 0, 1]) * 100))
        assert windows.shape == (3, 4, 2)
    assert len(starts) > 2 and max(starts) <= 6
    assert len(batches) == 1


def test_a_device_gives_the_same_windows_as_the_cpu():
    clips, labels = _clips()
    for train in (True, False):
        on_cpu = WindowBatches(clips, labels, frames=4, batch_size=2, train=train, seed=3)
        placed = WindowBatches(clips, labels, frames=4, batch_size=2, train=train, seed=3,
                               device="cpu")
        for _epoch in range(3):  # later epochs too: the device path draws a whole epoch at once
            for (x1, y1), (x2, y2) in zip(on_cpu, placed, strict=True):
                assert torch.equal(x1, x2) and torch.equal(y1, y2)
                assert x2.device == placed.data.device


def test_clips_padded_once_give_the_same_batches():
    from objectives.batches import PaddedClips

    clips, labels = _clips()
    padded = PaddedClips.from_clips(clips, labels, 4)
    for train in (False, True):
        direct = list(WindowBatches(clips, labels, frames=4, batch_size=2, train=train, seed=5))
        reused = list(WindowBatches(padded, frames=4, batch_size=2, train=train, seed=5))
        assert direct and all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
                              for a, b in zip(direct, reused, strict=True))
    with pytest.raises(ValueError, match="padded to 10 frames, need 12"):
        WindowBatches(padded, frames=12, batch_size=2, train=False)
