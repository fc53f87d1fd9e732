"""The large-batch option against the batch-32 setup on the same data: best validation accuracy,
its test accuracy, and time — so a speed-up is never bought with accuracy unnoticed.

Large batch = batch 256, learning rate × sqrt(256 / 32) (Adam), bf16-mixed on a GPU (fp32 on the
CPU). Both run the objective's path (`train_configuration`) for the same number of epochs, so the
large batch takes 8× fewer optimizer steps.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import (
    add_threads_flag,
    memory_cache,
    section,
    start,
    table,
    update_section,
)
from bench.throughput import LARGE_BATCH, _profile, clip_frames, patched_training


def train(cache, profile, *, hidden: int, precision: str, device: str, epochs: int, seed: int,
          resident: bool) -> dict:
    from objectives.search_space import TrialParams
    from objectives.training import quiet_lightning, train_configuration

    quiet_lightning()
    started = time.perf_counter()
    with patched_training(precision, device if resident else None):
        outcome = train_configuration(cache, TrialParams(lam=1.0, dropout=0.3, hidden=hidden),
                                      profile, seed=seed, max_epochs=epochs, device=device)
    return {"val": outcome.val_accuracy, "test": outcome.test_accuracy,
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.large_batch", description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=["quick", "paper"], default="quick")
    parser.add_argument("--clips", type=int, default=1024, help="training clips (in memory)")
    parser.add_argument("--eval-clips", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--hidden", type=int, help="default: the profile's baseline")
    parser.add_argument("--noise", type=float, default=3.0,
                        help="noise of the synthetic features (0.6 is easy: both reach 100 %%)")
    parser.add_argument("--lr-scales", type=float, nargs="+",
                        default=[(LARGE_BATCH / 32) ** 0.5, LARGE_BATCH / 32],
                        help="learning-rate multipliers of the large batch (default: sqrt "
                             "scaling and linear scaling, one row each)")
    add_threads_flag(parser)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not start(args):
        return 1
    gpu = args.device.startswith("cuda")
    small = _profile(args.shape, 32)
    hidden = args.hidden or small.search.baseline_hidden
    cache = memory_cache(args.clips, args.eval_clips, args.eval_clips, clip_frames(small),
                         small.features.n_mels, seed=100, noise=args.noise)
    setups = [("batch 32", small, "fp32", False)]
    for scale in args.lr_scales:
        setups.append((f"batch {LARGE_BATCH}, lr × {scale:.3g}",
                       _profile(args.shape, LARGE_BATCH, lr_scale=scale),
                       "bf16" if gpu else "fp32", gpu))
    rows = []
    for name, profile, precision, resident in setups:
        runs = [train(cache, profile, hidden=hidden, precision=precision, device=args.device,
                      epochs=args.epochs, seed=seed, resident=resident) for seed in args.seeds]
        row = {"setup": name, "precision": precision, "lr": profile.train.learning_rate,
               "resident": resident, "best val acc": float(np.mean([r["val"] for r in runs])),
               "test acc": float(np.mean([r["test"] for r in runs])),
               "s/run": float(np.mean([r["seconds"] for r in runs])),
               "per seed val": ", ".join(f"{r['val']:.3f}" for r in runs)}
        rows.append(row)
        print(f"  {row}", file=sys.stderr, flush=True)
    text = table(rows)
    lines = []
    for row in rows[1:]:
        gap = 100 * (rows[0]["best val acc"] - row["best val acc"])
        lines.append(f"- {row['setup']}: best validation accuracy {row['best val acc']:.3f} vs "
                     f"{rows[0]['best val acc']:.3f} at batch 32, {gap:.1f} points lower "
                     f"(negative: higher; goal within 1 point → {'met' if gap <= 1 else 'NOT met'})"
                     f", {rows[0]['s/run'] / row['s/run']:.2f}× as fast per run (validation and "
                     "test included).")
    lines.append(f"- Mean of seeds {args.seeds}. Data: {args.clips} in-memory FMA-shaped "
                 f"synthetic clips ({args.shape} shape, {clip_frames(small)} frames × "
                 f"{small.features.n_mels} mels, noise {args.noise:g}); {args.epochs} epochs for "
                 f"every setup (so batch {LARGE_BATCH} takes 8× fewer optimizer steps); "
                 f"hidden {hidden}, λ = 1, dropout 0.3.")
    notes = "\n".join(lines)
    print(text)
    print(notes)
    if not args.no_write:
        where = "gpu" if gpu else "cpu"
        update_section(f"large-batch-{where}", section(
            f"1b. Large-batch option vs batch 32: accuracy ({args.device}, {args.shape} shape)",
            args.device, text, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
