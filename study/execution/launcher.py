"""The worker launcher: one process per (device, slot), each with its CUDA_VISIBLE_DEVICES.

On a CPU-only machine `auto` means CPU processes that share the cores: each gets
`STUDY_THREADS` (read by the worker for torch.set_num_threads) and OMP/MKL thread limits.
The launcher forwards Ctrl-C/SIGTERM to its children and, while they work, polls the storage to
show progress; a poll that fails (the database is briefly away) is reported and retried, never
fatal. Children watch their launcher and stop cleanly if it dies, even by SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from study.defaults import MAX_AUTO_CPU_WORKERS, THREADS_ENV, cuda_visible_devices
from study.errors import UserError

STOP_GRACE_S = 20.0  # children get this long to fail their trial and exit after a signal


@dataclass(frozen=True)
class Slot:
    label: str  # "cpu.0", "cuda1.0": device and slot index, also the worker's id suffix
    cuda_visible_devices: str  # "" hides every GPU
    threads: int


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def detect_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """GPU indices visible to this process, without importing torch where possible."""
    visible = cuda_visible_devices(environ)
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=20, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        return [str(i) for i, line in enumerate(l for l in out.splitlines()
                                                 if l.startswith("GPU "))]
    if Path("/proc/driver/nvidia").exists():  # a driver but no nvidia-smi: ask torch
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    return []


def plan(devices: str, per_device: int | None, threads: int | None = None) -> list[Slot]:
    """The worker processes for `--devices auto|cpu|0,1,...` and `--per-device K`."""
    if per_device is not None and per_device < 1:
        raise UserError(f"--per-device must be at least 1, got {per_device}")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    cores = cpu_count()
    devices = devices.strip().lower()
    if devices == "auto":
        gpus = detect_gpus()
    elif devices == "cpu":
        gpus = []
    else:
        gpus = [d.strip() for d in devices.split(",") if d.strip()]
        if not gpus or not all(d.isdigit() for d in gpus):
            raise UserError(f"--devices must be auto, cpu or GPU indices like 0,1; got {devices!r}")
    if not gpus:
        # One thread per process: small LSTMs gain far more from parallel trials than from
        # threads (oversubscribed threads made a step ~20x slower in our measurements). Capped,
        # because every process holds the feature cache and a storage connection.
        count = per_device or min(MAX_AUTO_CPU_WORKERS, max(1, cores // (threads or 1)))
        each = threads or max(1, cores // count)
        return [Slot(f"cpu.{i}", "", each) for i in range(count)]
    count = per_device or 1
    each = threads or max(1, cores // (len(gpus) * count))
    return [Slot(f"cuda{gpu}.{i}", gpu, each) for gpu in gpus for i in range(count)]


def slot_environment(slot: Slot, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["CUDA_VISIBLE_DEVICES"] = slot.cuda_visible_devices
    for name in (THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(slot.threads)
    return env


def apply_slot_environment(slot: Slot) -> None:
    """For a single slot run in this process (before the objective imports torch)."""
    os.environ.update(slot_environment(slot, {}))


@dataclass(frozen=True)
class LaunchResult:
    interrupted: bool  # Ctrl-C or SIGTERM reached the launcher
    failed: tuple[tuple[str, int], ...]  # (slot label, exit code) of children that did not exit 0

    def describe(self) -> str:
        return ", ".join(f"{label} (exit {code}{', killed' if code < 0 else ''})"
                         for label, code in self.failed)


def _safe(poll: Callable[[], None], state: dict) -> None:
    """One progress poll; a storage error is said once and retried at the next poll."""
    try:
        poll()
        if state.get("failing"):
            print("progress: storage answers again", file=sys.stderr, flush=True)
        state["failing"] = False
    except Exception as exc:  # noqa: BLE001 - progress is best effort; the workers ride it out
        if not state.get("failing"):
            from storage import one_line

            print(f"progress: storage unavailable ({one_line(exc)}); the workers wait for it",
                  file=sys.stderr, flush=True)
        state["failing"] = True


def launch(slots: Sequence[Slot], child_argv: Callable[[Slot], list[str]],
           env: dict[str, str], *, poll: Callable[[], None] | None = None,
           poll_every: float = 2.0) -> LaunchResult:
    """Run one child per slot until all exit; forward Ctrl-C/SIGTERM; say which failed."""
    children: list[tuple[Slot, subprocess.Popen]] = []
    poll_state: dict = {}
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt))
    interrupted = False
    try:
        for slot in slots:
            cmd = [sys.executable, "-m", "study", *child_argv(slot)]
            children.append((slot, subprocess.Popen(cmd, env=slot_environment(slot, env))))
        last_poll = 0.0
        while any(proc.poll() is None for _, proc in children):
            if poll is not None and time.monotonic() - last_poll >= poll_every:
                _safe(poll, poll_state)
                last_poll = time.monotonic()
            time.sleep(0.2)
    except KeyboardInterrupt:
        interrupted = True
        _stop(children)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if poll is not None:
        _safe(poll, poll_state)
    return LaunchResult(interrupted, tuple((slot.label, proc.returncode)
                                           for slot, proc in children if proc.returncode != 0))


def _stop(children: Sequence[tuple[Slot, subprocess.Popen]]) -> None:
    """SIGTERM every child (they fail their trial and exit), then kill stragglers."""
    for signame in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, signame), signal.SIG_IGN)
    for _, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + STOP_GRACE_S
    for _, proc in children:
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
