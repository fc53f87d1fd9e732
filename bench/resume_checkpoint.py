"""Benchmark: the cost of a resume checkpoint (objectives.resume) — seconds and bytes per save at
the quick and paper shapes, against the seconds of a training epoch, and the interval it implies.

Each configuration trains a few epochs through the objective's own path (`train_configuration`)
with a resume checkpoint after every epoch, written to a directory (`--dir`: put it on the file
system the checkpoints will use, e.g. the NFS mount of the artifact store). A save is Lightning's
full checkpoint (model, optimizer, scheduler, best-so-far weights, random state), serialized and
written atomically with fsync. The FMA-small epoch is projected from the measured per-clip rate
(5,600 training clips: 70 % of 8,000).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

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

FMA_TRAIN_CLIPS = 5600
OVERHEAD = 0.01  # the interval keeps saving under 1 % of training time


def measure(shape: str, hidden: int, *, clips: int, epochs: int, device: str,
            directory: Path) -> dict:
    from objectives.resume import DirectorySlot
    from objectives.search_space import TrialParams
    from objectives.training import quiet_lightning, train_configuration

    quiet_lightning()
    profile = _profile(shape, 32)
    data = memory_data(memory_clips(clips, 8, 8, clip_frames(profile), profile.features.n_mels),
                       profile.train)
    slot = DirectorySlot(directory / f"{shape}-{hidden}.ckpt", every=1)
    timer = epoch_timer(device)
    outcome = train_configuration(data, TrialParams(lam=1.0, dropout=0.3, hidden=hidden), profile,
                                  seed=0, max_epochs=epochs + 1, device=device,
                                  extra_callbacks=[timer], resume=slot)
    slot.delete()
    saves = outcome.checkpoint_saves
    seconds = [s for s, _ in saves]
    per_clip = min(timer.seconds[1:] or timer.seconds) / clips
    fma_epoch = per_clip * FMA_TRAIN_CLIPS
    save = statistics.median(seconds)
    return {"shape": shape, "hidden": hidden, "MB/save": saves[-1][1] / 1e6,
            "s/save (median)": save, "s/save (max)": max(seconds),
            f"s/epoch ({clips} clips)": per_clip * clips, "s/epoch FMA (projected)": fma_epoch,
            "save ÷ FMA epoch": save / fma_epoch,
            "epochs for <1 %": max(1, round(save / (OVERHEAD * fma_epoch) + 0.5))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resume_checkpoint", description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", nargs="+", default=["quick:64", "quick:96", "paper:128",
                                                         "paper:256"],
                        help="SHAPE:HIDDEN pairs (quick's baseline 64, paper's 128; the maxima)")
    parser.add_argument("--clips", type=int, default=64, help="training clips per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="saves per configuration")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the checkpoints are written (default: a temporary directory)")
    add_threads_flag(parser)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not start(args):
        return 1
    with tempfile.TemporaryDirectory(prefix="resume-bench-", dir=args.dir) as directory:
        rows = []
        for item in args.shapes:
            shape, _, hidden = item.partition(":")
            rows.append(measure(shape, int(hidden), clips=args.clips, epochs=args.epochs,
                                device=args.device, directory=Path(directory)))
            print(table(rows[-1:]), file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        name = "resume-gpu" if args.device.startswith("cuda") else "resume-cpu"
        update_section(name, section(
            f"Resume checkpoints: cost per save ({args.device}, {args.clips} clips/epoch, batch "
            f"32, written to {'a temporary directory' if args.dir is None else args.dir})",
            args.device, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
