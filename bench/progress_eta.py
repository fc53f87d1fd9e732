"""Benchmark 9: how true `run`'s ETA is. One real `python -m study run` (the mock objective with
a delay per epoch, so pruned trials are short and complete ones long, as with the real objective;
or the real one with --objective lstm), its stderr read line by line with the time each line
came; for each phase, the ETA a line gives is turned into a predicted end (time since the phase
started + ETA) and compared with the phase's actual end, at the first line after a quarter and
after half of the phase.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import section, table, update_section

REPO = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"^(search|replicates): finished (\d+)/(\d+).*?; .*?(?:, ETA ([\d.]+) "
                   r"(s|min))?$")


def run_and_time(args: argparse.Namespace) -> list[tuple[float, str]]:
    """(seconds since launch, line) of `run`'s stderr."""
    work = Path(tempfile.mkdtemp(prefix="bench-eta-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "STUDY_MOCK_DELAY": str(args.delay),
           "STUDY_CACHE_DIR": str(work / "cache"), "STUDY_MODEL_DIR": str(work / "models")}
    argv = [sys.executable, "-m", "study", "run", "--storage", f"sqlite:///{work / 's.db'}",
            "--objective", args.objective, "--n-trials", str(args.n_trials), "--devices", "cpu",
            "--per-device", str(args.workers), "--replicate-seeds", str(args.seeds),
            *args.run_flags]
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stderr]
    proc.wait()
    return lines


def phase_errors(lines: list[tuple[float, str]], phase: str) -> dict | None:
    started = next((t for t, line in lines if line.startswith(f"{phase}: started")), None)
    points = []
    for t, line in lines:
        match = _LINE.match(line)
        if match and match.group(1) == phase:
            eta = None if match.group(4) is None else \
                float(match.group(4)) * (60.0 if match.group(5) == "min" else 1.0)
            points.append((t, int(match.group(2)), int(match.group(3)), eta))
    # The phase's end: its last trial's line, or (search) the line saying it is done.
    ends = [t for t, done, total, _ in points if done >= total] + [
        t for t, line in lines if line.startswith(f"{phase}: done in")]
    if started is None or not ends:
        return None
    actual = min(ends) - started
    row = {"phase": phase, "actual s": round(actual, 1)}
    for share in (0.25, 0.5):
        first = next(((t, eta) for t, done, total, eta in points
                      if t - started >= share * actual and eta is not None), None)
        if first is None:
            row[f"ETA error at {share:.0%}"] = "no ETA"
            continue
        predicted = first[0] - started + first[1]
        row[f"ETA error at {share:.0%}"] = f"{(predicted / actual - 1) * 100:+.0f} %"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objective", default="mock")
    parser.add_argument("--delay", type=float, default=2.0, help="mock: seconds per full trial")
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("run_flags", nargs="*", help="more flags of `run` (after --)")
    args = parser.parse_args(argv)
    lines = run_and_time(args)
    rows = [r for r in (phase_errors(lines, p) for p in ("search", "replicates")) if r]
    body = table(rows)
    print(body)
    if args.write:
        update_section("progress_eta", section(
            "11. How true run's ETA is", "cpu", body,
            "Predicted end = time since the phase started + the ETA of the first progress line "
            "after a quarter (a half) of the phase's actual duration; error = predicted / actual "
            "− 1."))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
