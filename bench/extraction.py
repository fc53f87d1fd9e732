"""Benchmark 5: feature extraction — decode + resample + log-mel of 30 s, 44.1 kHz stereo mp3 clips
(generated here with soundfile) through `objectives.data.features.featurize` with the paper
settings, with 1 and 2 processes; projects the time for FMA small's 8,000 clips on 16 cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.common import cores, section, table, update_section

FMA_SMALL_CLIPS = 8000
PROJECTED_CORES = 16


def write_mp3(path: Path, seconds: float, seed: int, sample_rate: int = 44100) -> None:
    """A music-like stereo mp3: a few decaying harmonic notes over noise."""
    import soundfile

    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    audio = 0.05 * rng.standard_normal((n, 2))
    for start in np.arange(0, seconds, 0.5):
        freq = 110 * 2 ** (rng.integers(0, 36) / 12)
        envelope = np.exp(-np.clip(t - start, 0, None) * 4) * (t >= start)
        tone = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 5)) * envelope
        audio += 0.2 * np.stack([tone, np.roll(tone, 50)], axis=1)
    audio /= np.max(np.abs(audio)) * 1.1
    soundfile.write(path, audio.astype(np.float32), sample_rate, format="MP3")


def _featurize(path: str) -> tuple[int, float]:
    from objectives import get_profile
    from objectives.data.features import featurize
    started = time.perf_counter()
    frames = len(featurize(Path(path), get_profile("paper").features))
    return frames, time.perf_counter() - started


def _decode_only(path: str) -> float:
    import soundfile

    started = time.perf_counter()
    soundfile.read(path, dtype="float32")
    return time.perf_counter() - started


def _warm(_: int) -> None:
    import librosa  # noqa: F401  (import cost is paid once per worker, not per clip)

    from objectives.data import features  # noqa: F401


def clips_per_second(paths: list[str], processes: int) -> float:
    """Clips/s of a pool of fresh single-threaded processes (1 process included, so the 1-process
    figure does not borrow BLAS/FFT threads from the other cores)."""
    context = multiprocessing.get_context("spawn")  # children read the thread limits at start
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_warm, range(processes)))
        list(pool.map(_featurize, paths[:processes]))  # librosa's lazy first-call set-up
        started = time.perf_counter()
        list(pool.map(_featurize, paths))
        return len(paths) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.extraction", description=__doc__)
    parser.add_argument("--clips", type=int, default=8, help="mp3 clips to generate (default 8)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # one core per process, like a worker of the cache build
    with tempfile.TemporaryDirectory(prefix="bench-mp3-") as tmp:
        paths = []
        for i in range(args.clips):
            path = Path(tmp) / f"{i:03d}.mp3"
            write_mp3(path, args.seconds, seed=i)
            paths.append(str(path))
        size = sum(Path(p).stat().st_size for p in paths) / len(paths) / 1e6
        _warm(0)
        decode = float(np.median([_decode_only(p) for p in paths[: min(4, len(paths))]]))
        rates = {}
        for processes in args.processes:
            rates[processes] = clips_per_second(paths, processes)
            print(f"  {processes} process(es): {rates[processes]:.2f} clips/s", file=sys.stderr)
    one = rates.get(1)
    rows = []
    for processes, rate in rates.items():
        efficiency = rate / (processes * one) if one else float("nan")
        rows.append({"processes": processes, "clips/s": rate, "s/clip": 1 / rate,
                     "× 1 process": rate / one if one else float("nan"),
                     "efficiency": efficiency})
    top = max(rates)
    efficiency = min(1.0, rates[top] / (top * one)) if one else float("nan")
    projected = FMA_SMALL_CLIPS / (one * PROJECTED_CORES * efficiency) if one else float("nan")
    text = table(rows)
    notes = (f"{args.clips} clips of {args.seconds:g} s, 44.1 kHz stereo mp3 (~{size:.2f} MB "
             f"each) → 16 kHz mono → 128-band log-mel (paper settings). Decode alone "
             f"(soundfile, 44.1 kHz stereo): {decode:.2f} s/clip. Projected for FMA small "
             f"({FMA_SMALL_CLIPS:,} clips) on {PROJECTED_CORES} cores at the {top}-process "
             f"efficiency measured here ({efficiency:.0%}): **{projected / 60:.1f} min** "
             f"(one process: {FMA_SMALL_CLIPS / one / 3600:.1f} h). This machine has {cores()} "
             "cores shared with other jobs, so the efficiency is a lower bound. Every process is "
             "spawned single-threaded (OMP/OpenBLAS/MKL = 1): measured in the main process with "
             "the default BLAS threads, the 1-process figure was 2-3× slower (0.11-0.20 s/clip) on "
             "this machine, so extraction workers should be limited to one thread each.")
    print(text)
    print(notes)
    if not args.no_write:
        update_section("extraction", section("5. Feature extraction", "cpu", text, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
