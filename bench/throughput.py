"""Benchmark 1: training throughput (samples/s of forward + backward + optimizer step).

Side by side in one run, on the same model (ReconBiLSTM, λ = 1, dropout 0.3):
- bare: the training step alone on one batch already resident on the device (the ceiling);
- ours: the path every trial takes, end to end — `objectives.training.train_configuration`
  (WindowBatches + ReconstructionClassifier + Lightning Trainer), timed per training epoch,
  data included, validation excluded, the first epoch of every run discarded as warm-up;
- ours+resident (GPU only): the same with the padded clips in GPU memory (what trials now do);
  plain `ours` forces host-side batches, the path that residency replaced;
- reference: the reference loop re-implemented here (one `.npy` per sample `np.load`ed from disk
  and randomly cropped in a Dataset, DataLoader with 8 workers, fp32, batch 32);
- large batch: batch 256 (bf16 on a GPU), the same paths.
Only the paper shape has a reference row (the reference loop is the paper's). Configurations are
measured in interleaved rounds and each reports its best figure (and the median): on a shared
machine the best is the least disturbed one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.common import (
    add_threads_flag,
    memory_clips,
    memory_data,
    section,
    start,
    synchronize,
    table,
    update_section,
)
from objectives import LARGE_BATCH_SIZE as LARGE_BATCH
from objectives import get_profile, large_batch

LAMBDA, DROPOUT = 1.0, 0.3
# The benches' precision names, as Lightning's Trainer spells them.
LIGHTNING_PRECISION = {"fp32": "32-true", "bf16": "bf16-mixed"}


def _profile(shape: str, batch: int, lr_scale: float = 1.0):
    profile = get_profile(shape)
    train = dataclasses.replace(profile.train, batch_size=batch,
                                learning_rate=profile.train.learning_rate * lr_scale)
    return dataclasses.replace(profile, train=train)


def clip_frames(profile) -> int:
    f = profile.features
    return int(f.clip_seconds * f.sample_rate / f.hop_length) + 1


def _model(n_mels: int, hidden: int, device: str):
    from objectives.model import ReconBiLSTM

    return ReconBiLSTM(n_mels, 8, hidden, DROPOUT).to(device)


def _autocast(device: str, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu",
                              dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model, optimizer, x, y, precision: str, device: str) -> None:
    """One reference-style step: CE + λ·L1(x, x̂), backward, Adam."""
    from objectives.model import reconstruction_loss

    with _autocast(device, precision):
        logits, reconstruction = model(x)
        loss = F.cross_entropy(logits, y) + LAMBDA * reconstruction_loss(x, reconstruction)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def bare_rates(*, frames: int, n_mels: int, hidden: int, batch: int, precision: str, device: str,
               steps: int, chunks: int, warmup: int) -> list[float]:
    """Samples/s of the training step on a resident batch, one figure per chunk of `steps`."""
    model = _model(n_mels, hidden, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, frames, n_mels, device=device) * 2 - 1
    y = torch.randint(0, 8, (batch,), device=device)
    for _ in range(warmup):
        train_step(model, optimizer, x, y, precision, device)
    rates = []
    for _ in range(chunks):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            train_step(model, optimizer, x, y, precision, device)
        synchronize(device)
        rates.append(steps * batch / (time.perf_counter() - started))
    return rates


def ours_rates(data, profile, *, hidden: int, precision: str, device: str, epochs: int,
               resident: bool = False) -> list[float]:
    """Samples/s of the objective's training path, one figure per epoch after the first.

    `precision` (fp32 or bf16) is forced whatever the profile says; `resident=False` keeps the
    batches on the host (the path device residency replaced), `True` puts the padded clips in GPU
    memory as a trial on a GPU does (no effect on a CPU).
    """
    from bench.common import epoch_timer
    from objectives import TrialParams, quiet_lightning, train_configuration
    quiet_lightning()
    timer = epoch_timer(device)
    params = TrialParams(lam=LAMBDA, dropout=DROPOUT, hidden=hidden)
    train_configuration(data, params, profile, seed=0, max_epochs=epochs, device=device,
                        extra_callbacks=[timer], precision=LIGHTNING_PRECISION[precision],
                        resident=resident)
    return [n / t for n, t in zip(timer.samples[1:], timer.seconds[1:])]


class NpyCrops(torch.utils.data.Dataset):
    """The reference's Dataset: one `.npy` file per sample, loaded and cropped on every access."""

    def __init__(self, paths: list[Path], labels: np.ndarray, frames: int) -> None:
        self.paths, self.labels, self.frames = paths, labels, frames

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        clip = np.load(self.paths[index])
        start = np.random.randint(0, max(1, len(clip) - self.frames + 1))
        window = clip[start : start + self.frames]
        if len(window) < self.frames:
            window = np.pad(window, ((0, self.frames - len(window)), (0, 0)), constant_values=-1)
        return torch.from_numpy(np.ascontiguousarray(window)), int(self.labels[index])


def write_npy(clips: list[np.ndarray], directory: Path) -> list[Path]:
    paths = []
    for i, clip in enumerate(clips):
        path = directory / f"{i:06d}.npy"
        np.save(path, clip)
        paths.append(path)
    return paths


def reference_rates(paths: list[Path], labels: np.ndarray, *, frames: int, n_mels: int,
                    hidden: int, device: str, steps: int, chunks: int, warmup: int,
                    workers: int) -> list[float]:
    """Samples/s of the reference loop (fp32, batch 32, DataLoader workers, no pinned memory),
    one figure per chunk of `steps`; the first `warmup` steps (worker start-up) are not timed."""
    loader = torch.utils.data.DataLoader(NpyCrops(paths, labels, frames), batch_size=32,
                                         shuffle=True, num_workers=workers, drop_last=True)
    model = _model(n_mels, hidden, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    done, rates, started = 0, [], 0.0
    total = warmup + steps * chunks
    while done < total:
        for x, y in loader:  # a new epoch restarts the workers, as in the reference
            x, y = x.to(device), y.to(device)
            train_step(model, optimizer, x, y, "fp32", device)
            done += 1
            if done >= warmup and (done - warmup) % steps == 0:
                synchronize(device)
                now = time.perf_counter()
                if done > warmup:
                    rates.append(steps * 32 / (now - started))
                started = now
            if done == total:
                break
    return rates


def run(args: argparse.Namespace) -> list[dict]:
    """Every configuration, interleaved over `args.rounds` rounds; the best figure of each."""
    device = args.device
    gpu = device.startswith("cuda")
    precisions = ["fp32", "bf16"] if gpu else ["fp32"]
    large_precision = "bf16" if gpu else "fp32"
    configs: list[tuple[dict, object]] = []  # (row, () -> list of rates)
    tmp = tempfile.TemporaryDirectory(prefix="bench-npy-")
    for shape in args.shapes:
        profile = _profile(shape, 32)
        n_mels, crop = profile.features.n_mels, profile.train.crop_frames
        hidden = args.hidden or profile.search.baseline_hidden
        factor = 1 if shape == "paper" else args.quick_factor
        clips = memory_clips(args.clips * factor, args.eval_clips, args.eval_clips,
                             clip_frames(profile), n_mels)
        data = memory_data(clips, profile.train)  # padded once, as a worker does
        # The bare step is timed in chunks as long as one of our epochs.
        steps = max(1, args.clips * factor // 32)
        label = f"{shape} ({crop}×{n_mels}, h={hidden})"

        def add(path, batch, precision, measure, label=label):
            configs.append(({"shape": label, "path": path, "batch": batch,
                             "precision": precision}, measure))

        common = {"frames": crop, "n_mels": n_mels, "hidden": hidden, "device": device}
        for precision in precisions:
            add("bare", 32, precision, functools.partial(
                bare_rates, **common, batch=32, precision=precision, steps=steps, chunks=2,
                warmup=args.warmup))
            for resident in ([False, True] if gpu else [False]):
                add("ours+resident" if resident else "ours", 32, precision, functools.partial(
                    ours_rates, data, profile, hidden=hidden, precision=precision,
                    device=device, epochs=3, resident=resident))
        if shape == "paper" and args.workers > 0:
            train_clips, labels = clips["train"]
            paths = write_npy(train_clips, Path(tmp.name))
            add("reference", 32, "fp32", functools.partial(
                reference_rates, paths, labels, **common, steps=steps, chunks=2,
                warmup=args.warmup, workers=args.workers))
        if args.large_batch:
            large = large_batch(get_profile(shape))  # the documented option
            big_steps = max(2, steps * 32 // LARGE_BATCH)
            add("bare", LARGE_BATCH, large_precision, functools.partial(
                bare_rates, **common, batch=LARGE_BATCH, precision=large_precision,
                steps=big_steps, chunks=2, warmup=args.warmup))
            # At least 2 full large batches per epoch, so the rows really use batch 256.
            big = data if args.clips * factor >= 2 * LARGE_BATCH else memory_data(
                memory_clips(2 * LARGE_BATCH, args.eval_clips, args.eval_clips,
                             clip_frames(profile), n_mels), large.train)
            for resident in ([False, True] if gpu else [False]):
                add("ours+resident" if resident else "ours", LARGE_BATCH, large_precision,
                    functools.partial(ours_rates, big, large, hidden=hidden,
                                      precision=large_precision, device=device, epochs=3,
                                      resident=resident))
    rates: list[list[float]] = [[] for _ in configs]
    for round_ in range(args.rounds):
        for i, (row, measure) in enumerate(configs):
            got = measure()
            rates[i] += got
            print(f"  round {round_ + 1}: {row['shape']} {row['path']} batch {row['batch']} "
                  f"{row['precision']}: " + ", ".join(f"{r:,.1f}" for r in got) + " samples/s",
                  file=sys.stderr, flush=True)
    tmp.cleanup()
    rows = []
    for (row, _), got in zip(configs, rates):
        rows.append({**row, "samples/s": max(got), "median": float(np.median(got)),
                     "n": len(got)})
    for row in rows:
        same = [r for r in rows if r["shape"] == row["shape"]]
        bare = next((r for r in same if r["path"] == "bare" and r["batch"] == row["batch"]
                     and r["precision"] == row["precision"]), None)
        ref = next((r for r in same if r["path"] == "reference"), None)
        for key, other in (("bare", bare), ("reference", ref)):
            row[f"÷ {key}"] = row["samples/s"] / other["samples/s"] if other else float("nan")
            row[f"÷ {key} (medians)"] = row["median"] / other["median"] if other \
                else float("nan")
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--shapes", nargs="+", default=["paper", "quick"],
                        choices=["paper", "quick"])
    parser.add_argument("--clips", type=int, default=32,
                        help="training clips at the paper shape (one epoch; default 32 = 1 batch)")
    parser.add_argument("--quick-factor", type=int, default=8,
                        help="the quick shape uses this many times more clips and steps")
    parser.add_argument("--eval-clips", type=int, default=8, help="validation and test clips")
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved rounds; each configuration reports its best figure")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--workers", type=int, default=8, help="reference DataLoader workers")
    parser.add_argument("--hidden", type=int, help="hidden size (default: the profile's baseline)")
    parser.add_argument("--large-batch", action="store_true",
                        help=f"also the large-batch option (batch {LARGE_BATCH}, bf16 on a GPU)")
    add_threads_flag(parser)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not start(args):
        return 1
    rows = run(args)
    text = table(rows, ["shape", "path", "batch", "precision", "samples/s", "median", "n",
                        "÷ bare", "÷ bare (medians)", "÷ reference", "÷ reference (medians)"])
    print(text)
    if not args.no_write:
        where = "gpu" if args.device.startswith("cuda") else "cpu"
        name = f"throughput-{where}-{'-'.join(args.shapes)}"
        update_section(name, section(
            f"1. Training throughput ({args.device}, {' and '.join(args.shapes)} shape)",
            args.device, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
