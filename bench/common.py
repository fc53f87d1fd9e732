"""Shared pieces of the benchmarks: the machine, tables, BENCHMARKS.md sections, in-memory
training data shaped like the real one, and timers that synchronize the GPU.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
N_CLASSES = 8  # FMA small's genres
CLASSES = tuple(f"class{i}" for i in range(N_CLASSES))


# -- the machine ---------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine(device: str = "cpu") -> str:
    """One line: CPU, cores, torch (and CUDA/cuDNN and the GPU when `device` is cuda)."""
    import torch

    text = (f"{cpu_model()}, {cores()} cores visible, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} torch threads")
    if device.startswith("cuda") and torch.cuda.is_available():
        text += (f"; GPU {torch.cuda.get_device_name()} (CUDA {torch.version.cuda}, "
                 f"cuDNN {torch.backends.cudnn.version()})")
    else:
        text += "; device cpu"
    return text


def command_line() -> str:
    """The command as the user would type it (`python -m bench.x ...`)."""
    module = Path(sys.argv[0]).stem
    return "python -m bench." + " ".join([module, *map(shlex.quote, sys.argv[1:])])


# -- output ----------------------------------------------------------------------------------------
def table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A Markdown table (also readable on a terminal)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |",
             "| " + " | ".join("-" * w for w in widths) + " |"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def update_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the block between `<!-- bench:name -->` and `<!-- /bench:name -->`."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def section(title: str, device: str, results: str, notes: str = "") -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [f"### {title}", "", f"Command: `{command_line()}`  ", f"Machine: {machine(device)}  ",
             f"Run: {stamp}", "", results]
    if notes:
        parts += ["", notes]
    return "\n".join(parts)


# -- data ------------------------------------------------------------------------------------------
def synthetic_clips(count: int, frames: int, n_mels: int, *, seed: int = 0, jitter: float = 0.1,
                    noise: float = 0.6) -> tuple[list[np.ndarray], np.ndarray]:
    """Learnable FMA-shaped features: a class-specific spectral profile and modulation plus noise
    (std `noise`: larger is harder), in the scaled log-mel range [-1, 1]. Lengths vary by
    ±`jitter` (real clips do, a little)."""
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(1234).normal(0, 0.25, (N_CLASSES, n_mels)).cumsum(axis=1) / 4
    rates = np.linspace(0.02, 0.2, N_CLASSES)
    labels = rng.integers(0, N_CLASSES, count)
    clips = []
    for label in labels:
        n = max(8, int(frames * (1 + rng.uniform(-jitter, jitter))))
        t = np.arange(n)[:, None]
        level = protos[label] + 0.3 * np.sin(rates[label] * t + rng.uniform(0, 6.3))
        clip = level + rng.normal(0, noise, (n, n_mels))
        clips.append(np.clip(clip, -1, 1).astype(np.float32))
    return clips, labels.astype(np.int64)


def memory_clips(train: int, val: int, test: int, frames: int, n_mels: int, *, seed: int = 0,
                 noise: float = 0.6) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """`synthetic_clips` for each split (train, val and test clips: distinct seeds)."""
    return {name: synthetic_clips(count, frames, n_mels, seed=seed + offset, noise=noise)
            for offset, (name, count) in enumerate((("train", train), ("val", val),
                                                    ("test", test)))}


def memory_data(clips: dict[str, tuple[list[np.ndarray], np.ndarray]], train_settings):
    """In-memory clips as the training data a worker holds, padded once for `train_settings`."""
    from objectives import TrainingData
    return TrainingData.from_clips(clips, CLASSES, train_settings, key="bench-memory")


# -- timing ----------------------------------------------------------------------------------------
def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def epoch_timer(device: str):
    """A Lightning callback timing each training epoch (data included, validation excluded)."""
    from lightning.pytorch import Callback

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.samples: list[int] = []
            self._start = 0.0
            self._count = 0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            synchronize(device)
            self._start, self._count = time.perf_counter(), 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self._count += len(batch[1])
            if batch_idx == trainer.num_training_batches - 1:
                synchronize(device)
                self.seconds.append(time.perf_counter() - self._start)
                self.samples.append(self._count)

        def rate(self, skip: int = 1) -> float:
            """Samples per second over the epochs after the first `skip` (warm-up)."""
            seconds = self.seconds[skip:] or self.seconds
            samples = self.samples[skip:] or self.samples
            return sum(samples) / sum(seconds)

    return EpochTimer()


def add_threads_flag(parser) -> None:
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core machine, 2 threads "
                             "oversubscribe the cores and step times jump 10-100×)")


def apply_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def start(args) -> bool:
    """Check --device and set --threads; False (after one error line) when no GPU is visible."""
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA GPU is visible; use --device cpu", file=sys.stderr)
        return False
    apply_threads(args.threads)
    return True


def percent(value: float) -> str:
    return f"{100 * value:.0f} %"
