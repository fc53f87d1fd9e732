"""Benchmark 2: the cost of the search dimensions — seconds per training epoch against hidden size,
and λ = 0 (reconstruction left out of the graph) against λ > 0.

Runs the objective's training path (`train_configuration`) on in-memory features of the chosen
profile's shape; every (hidden, λ) pair is measured in interleaved rounds, best epoch reported.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.common import (
    add_threads_flag,
    epoch_timer,
    memory_clips,
    memory_data,
    section,
    start,
    table,
    update_section,
)
from bench.throughput import _profile, clip_frames


def epoch_seconds(data, profile, *, hidden: int, lam: float, device: str,
                  epochs: int) -> list[float]:
    """Seconds of each training epoch after the first (`data`: a `TrainingData`)."""
    from objectives import TrialParams, quiet_lightning, train_configuration
    quiet_lightning()
    timer = epoch_timer(device)
    train_configuration(data, TrialParams(lam=lam, dropout=0.3, hidden=hidden), profile,
                        seed=0, max_epochs=epochs, device=device, extra_callbacks=[timer])
    return timer.seconds[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hidden_cost", description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=["quick", "paper"], default="quick")
    parser.add_argument("--hidden", type=int, nargs="+",
                        default=[16, 32, 64, 96, 128, 160, 192, 256])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--clips", type=int, default=128, help="training clips per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (first discarded)")
    parser.add_argument("--rounds", type=int, default=1)
    add_threads_flag(parser)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not start(args):
        return 1
    profile = _profile(args.shape, 32)
    n_mels = profile.features.n_mels
    # Padded once, as a worker does.
    data = memory_data(memory_clips(args.clips, 16, 16, clip_frames(profile), n_mels),
                       profile.train)
    pairs = [(h, lam) for h in args.hidden for lam in args.lambdas]
    seconds: dict[tuple[int, float], list[float]] = {p: [] for p in pairs}
    for _ in range(args.rounds):
        for hidden, lam in pairs:
            got = epoch_seconds(data, profile, hidden=hidden, lam=lam, device=args.device,
                                epochs=args.epochs)
            seconds[(hidden, lam)] += got
            print(f"  hidden {hidden:3} λ={lam:g}: " + ", ".join(f"{s:.2f}" for s in got)
                  + " s/epoch", file=sys.stderr, flush=True)
    base = min(min(seconds[(args.hidden[0], lam)]) for lam in args.lambdas)
    rows = []
    for hidden in args.hidden:
        row: dict = {"hidden": hidden}
        for lam in args.lambdas:
            best = min(seconds[(hidden, lam)])
            row[f"s/epoch λ={lam:g}"] = best
            row[f"samples/s λ={lam:g}"] = args.clips / best
        if len(args.lambdas) == 2:
            a, b = (min(seconds[(hidden, lam)]) for lam in args.lambdas)
            row[f"λ={args.lambdas[1]:g} ÷ λ={args.lambdas[0]:g}"] = b / a
        fastest = min(min(seconds[(hidden, lam)]) for lam in args.lambdas)
        row[f"× h={args.hidden[0]}"] = fastest / base
        row["params"] = _params(n_mels, hidden)
        rows.append(row)
    text = table(rows)
    print(text)
    if not args.no_write:
        name = "hidden-gpu" if args.device.startswith("cuda") else "hidden-cpu"
        crop = profile.train.crop_frames
        update_section(name, section(
            f"2. Seconds per epoch vs hidden size ({args.device}, {args.shape} shape "
            f"{crop}×{n_mels}, {args.clips} clips/epoch, batch 32)", args.device, text))
    return 0


def _params(n_mels: int, hidden: int) -> int:
    from objectives.model import ReconBiLSTM

    return int(sum(np.prod(p.shape) for p in ReconBiLSTM(n_mels, 8, hidden, 0.0).parameters()))


if __name__ == "__main__":
    raise SystemExit(main())
