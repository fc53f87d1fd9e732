"""Device planning for the worker launcher (no processes started)."""

from __future__ import annotations

import pytest

from study import launcher
from study.errors import UserError


def test_cpu_plan_shares_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "cpu_count", lambda: 8)
    slots = launcher.plan("cpu", None)
    assert [s.label for s in slots] == [f"cpu.{i}" for i in range(8)]
    assert all(s.cuda_visible_devices == "" and s.threads == 1 for s in slots)
    assert [s.threads for s in launcher.plan("cpu", 4)] == [2] * 4
    assert len(launcher.plan("cpu", None, threads=2)) == 4
    monkeypatch.setattr(launcher, "cpu_count", lambda: 64)
    assert len(launcher.plan("cpu", None)) == launcher.MAX_AUTO_CPU_WORKERS
    monkeypatch.setattr(launcher, "cpu_count", lambda: 1)
    assert len(launcher.plan("cpu", None)) == 1


def test_gpu_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "cpu_count", lambda: 16)
    slots = launcher.plan("0,2", 2)
    assert [(s.label, s.cuda_visible_devices) for s in slots] == [
        ("cuda0.0", "0"), ("cuda0.1", "0"), ("cuda2.0", "2"), ("cuda2.1", "2")]
    assert all(s.threads == 4 for s in slots)
    env = launcher.slot_environment(slots[1], {})
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["STUDY_THREADS"] == "4"


def test_auto_uses_visible_gpus_or_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert [s.label for s in launcher.plan("auto", 1)] == ["cuda3.0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert [s.label for s in launcher.plan("auto", 1)] == ["cpu.0"]


@pytest.mark.parametrize("devices", ["gpu", "0,x", ","])
def test_bad_devices(devices: str) -> None:
    with pytest.raises(UserError, match="--devices"):
        launcher.plan(devices, None)
