"""`python -m objectives.prepare` run for real in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def _prepare(*args: str, cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "objectives.prepare", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env,
                          check=False)


def _folder(root: Path) -> Path:
    t = np.arange(4000) / 8000
    for c, label in enumerate(("a", "b")):
        for n in range(10):
            sf.write(root / f"{label}_{n}.wav",
                     (0.2 * np.sin(2 * np.pi * (300 + 900 * c + 20 * n) * t)).astype(np.float32),
                     8000)
    (root / "b_broken.wav").write_text("not audio")
    return root


@pytest.mark.slow
def test_prepare_builds_then_reuses(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    _folder(audio)
    args = ("--data", f"folder:{audio}", "--cache-dir", str(tmp_path / "cache"), "--workers", "1")
    first = _prepare(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["reused"] is False and summary["ok"] == 20 and summary["failed"] == 1
    assert sum(counts["ok"] for counts in summary["splits"].values()) == 20
    assert summary["failed_items"][0]["item_id"] == "b_broken.wav"
    assert Path(summary["directory"]).parent == tmp_path / "cache"
    assert "built feature cache" in first.stderr.strip().splitlines()[-1]
    second = _prepare(*args, cwd=tmp_path)
    assert second.returncode == 0 and json.loads(second.stdout)["reused"] is True
    assert json.loads(second.stdout)["key"] == summary["key"]


@pytest.mark.slow
def test_prepare_cache_dir_from_environment(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    _folder(audio)
    result = _prepare("--data", f"folder:{audio}", "--no-progress", cwd=tmp_path,
                      env_extra={"STUDY_CACHE_DIR": str(tmp_path / "envcache")})
    assert result.returncode == 0, result.stderr
    assert Path(json.loads(result.stdout)["directory"]).parent == tmp_path / "envcache"


def test_prepare_unknown_scheme_is_one_line_error(tmp_path):
    result = _prepare("--data", "ftp:somewhere", "--cache-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown data source")
    assert "Traceback" not in result.stderr


def test_prepare_missing_fma_dir_names_it(tmp_path):
    result = _prepare("--data", f"fma:{tmp_path / 'nope'}", "--cache-dir", str(tmp_path),
                      cwd=tmp_path)
    assert result.returncode == 1
    assert str(tmp_path / "nope") in result.stderr and "Traceback" not in result.stderr
