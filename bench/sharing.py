"""Aggregate training throughput of 1, 2, 4 trial processes sharing one device (for the default of
`python -m study worker --per-device`).

Each process (spawned, as the launcher's workers are separate processes) builds its own model and
data, waits at a barrier, then trains for a fixed time:
- `bare`: the training step on a resident batch;
- `ours`: the objective's path (`train_configuration` on in-memory features) for as many epochs as
  fit in `--seconds`; its epochs after the first are timed.
The aggregate is the sum of the processes' samples/s while they all ran together.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time

from bench.common import section, table, update_section


def _bare(queue, barrier, args: dict) -> None:
    import torch

    from bench.throughput import _model, train_step

    torch.set_num_threads(args["threads"])
    device = args["device"]
    model = _model(args["n_mels"], args["hidden"], device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(args["batch"], args["frames"], args["n_mels"], device=device) * 2 - 1
    y = torch.randint(0, 8, (args["batch"],), device=device)
    for _ in range(3):
        train_step(model, optimizer, x, y, args["precision"], device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    barrier.wait()
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < args["seconds"]:
        for _ in range(5):
            train_step(model, optimizer, x, y, args["precision"], device)
        steps += 5
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    queue.put(steps * args["batch"] / (time.perf_counter() - started))


def _ours(queue, barrier, args: dict) -> None:
    import torch

    from bench.common import memory_clips, memory_data
    from bench.throughput import _profile, clip_frames, ours_rates

    torch.set_num_threads(args["threads"])
    profile = _profile(args["shape"], args["batch"])
    data = memory_data(memory_clips(args["clips"], 16, 16, clip_frames(profile),
                                    args["n_mels"]), profile.train)
    barrier.wait()
    rates = ours_rates(data, profile, hidden=args["hidden"], precision=args["precision"],
                       device=args["device"], epochs=args["epochs"], resident=args["resident"])
    queue.put(max(rates))


def aggregate(processes: int, args: dict) -> tuple[float, list[float]]:
    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(processes)
    target = _bare if args["path"] == "bare" else _ours
    procs = [ctx.Process(target=target, args=(queue, barrier, args)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    rates = [queue.get(timeout=args["seconds"] * 20 + 300) for _ in procs]
    for proc in procs:
        proc.join()
    return sum(rates), rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sharing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--path", choices=["bare", "ours"], default="bare")
    parser.add_argument("--shape", choices=["paper", "quick"], default="paper")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--seconds", type=float, default=10.0, help="bare: seconds per process")
    parser.add_argument("--clips", type=int, default=512, help="ours: training clips")
    parser.add_argument("--epochs", type=int, default=3, help="ours: epochs (first discarded)")
    parser.add_argument("--resident", action="store_true", help="ours: batches on the device")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    from bench.throughput import _profile

    profile = _profile(args.shape, args.batch)
    spec = {**vars(args), "n_mels": profile.features.n_mels,
            "frames": profile.train.crop_frames}
    rows = []
    for processes in args.processes:
        total, each = aggregate(processes, spec)
        rows.append({"processes": processes, "aggregate samples/s": total,
                     "per process": ", ".join(f"{r:,.0f}" for r in each)})
        print(f"  {processes} processes: {total:,.1f} samples/s", file=sys.stderr, flush=True)
    one = rows[0]["aggregate samples/s"] if args.processes[0] == 1 else None
    for row in rows:
        row["× 1 process"] = row["aggregate samples/s"] / one if one else float("nan")
    text = table(rows, ["processes", "aggregate samples/s", "× 1 process", "per process"])
    print(text)
    if not args.no_write:
        where = "gpu" if args.device.startswith("cuda") else "cpu"
        update_section(f"sharing-{where}-{args.path}", section(
            f"6. Trial processes sharing one {args.device} ({args.path} path, {args.shape} shape, "
            f"hidden {args.hidden}, batch {args.batch}, {args.precision})", args.device, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
