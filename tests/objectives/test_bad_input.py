"""Bad input through the real `python -m objectives.prepare`: per-file problems are recorded and
skipped (exit 0), whole-source problems are one `error:` line naming the path (exit 1), and an
interrupted build (SIGKILL) is finished by the next run, trusting nothing half-written.

Library-level cases live in data/test_features.py, data/test_folder.py and data/test_fma.py;
padding of clips shorter than the training crop in test_batches.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.helpers import one_line_error
from tests.objectives.data.fma_layout import write_fma

ROOT = Path(__file__).resolve().parents[2]
# Each test runs the real `objectives.prepare` in a subprocess (torch, librosa, decoding): the
# slowest module outside the `slow` ones (3 to 5 min per test on a loaded 2-core machine).
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STUDY_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _prepare(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "objectives.prepare", "--no-progress", *args],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300,
                          check=False)


def _tone(seconds: float, freq: float, sr: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_bad_files_are_listed_and_skipped_good_odd_files_work(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    for c, label in enumerate(("low", "high")):
        (audio / label).mkdir(parents=True)
        for n in range(5):
            sf.write(audio / label / f"{n}.wav", _tone(1.0, 300 + 1500 * c + 20 * n), 8000)
    (audio / "low" / "corrupt.mp3").write_bytes(b"\xff\xfb\x90\x00" + bytes(range(256)) * 8)
    (audio / "low" / "zero.mp3").write_bytes(b"")
    (audio / "high" / "text.mp3").write_text("this is not audio\n")
    stereo = np.stack([_tone(1.0, 2000, 44100), _tone(1.0, 2100, 44100)], axis=1)
    sf.write(audio / "high" / "stereo44k.wav", stereo, 44100)
    # Quick profile: 8 kHz, hop 256, crop 64 frames (~2 s); this clip has ~10 frames.
    sf.write(audio / "low" / "short.wav", _tone(0.3, 350), 8000)
    proc = _prepare("--data", f"folder:{audio}", "--cache-dir", str(tmp_path / "cache"),
                    "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    failed = {row["item_id"]: row["reason"] for row in summary["failed_items"]}
    assert set(failed) == {"low/corrupt.mp3", "low/zero.mp3", "high/text.mp3"}
    assert "0 bytes" in failed["low/zero.mp3"] and "cannot decode" in failed["high/text.mp3"]
    assert "cannot decode" in failed["low/corrupt.mp3"]
    assert summary["ok"] == 12 and summary["failed"] == 3
    assert "3 failed" in proc.stderr.strip().splitlines()[-1]
    index = json.loads((Path(summary["directory"]) / "index.json").read_text())
    rows = {row["item_id"]: row for row in index}
    assert rows["high/stereo44k.wav"]["status"] == "ok"
    assert rows["high/stereo44k.wav"]["frames"] == rows["high/0.wav"]["frames"]  # resampled
    assert rows["low/short.wav"]["status"] == "ok"  # kept; padded with silence when batched
    assert rows["low/short.wav"]["frames"] < 64


def _labelled(audio: Path, per_class: dict[str, int]) -> None:
    """`per_class[label]` LABEL_n.wav files at the top level of `audio`."""
    audio.mkdir(parents=True, exist_ok=True)
    for c, (label, count) in enumerate(per_class.items()):
        for n in range(count):
            sf.write(audio / f"{label}_{n}.wav", _tone(0.5, 300 + 400 * c + 20 * n), 8000)


def test_a_name_that_is_not_utf8_is_failed_and_the_rest_used(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    _labelled(audio, {"a": 5, "b": 5})
    sf.write(audio / "tmp.wav", _tone(0.5, 500), 8000)
    os.rename(audio / "tmp.wav", os.fsencode(audio) + b"/a_caf\xe9.wav")  # Latin-1 "café"
    args = ("--data", f"folder:{audio}", "--cache-dir", str(tmp_path / "cache"), "--workers", "1")
    proc = _prepare(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ok"] == 10 and summary["failed"] == 1 and summary["items"] == 11
    [row] = summary["failed_items"]
    assert row["item_id"] == "a_caf\\xe9.wav"  # shown with a backslash escape
    assert "not valid UTF-8" in row["reason"] and "a_caf\\xe9.wav" in row["reason"]
    assert summary["classes"] == ["a", "b"]
    assert {name: counts["ok"] for name, counts in summary["splits"].items()} == {
        "train": 6, "val": 2, "test": 2}
    index = json.loads((Path(summary["directory"]) / "index.json").read_text(encoding="utf-8"))
    assert sorted(r["item_id"] for r in index if r["status"] == "ok") == sorted(
        f"{label}_{n}.wav" for label in "ab" for n in range(5))
    again = _prepare(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["reused"] is True


def test_a_folder_mixing_the_two_layouts_is_refused(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    _labelled(audio, {"a": 5, "b": 5})
    for name in ("extra/x.wav", "extra/y.wav", "old/z.wav"):
        (audio / name).parent.mkdir(exist_ok=True)
        sf.write(audio / name, _tone(0.5, 700), 8000)
    one_line_error(_prepare("--data", f"folder:{audio}", "--cache-dir", str(tmp_path / "cache"),
                            cwd=tmp_path),
                   str(audio), "mixes two layouts", "10 audio file(s) at its top level",
                   "extra/ (2 files), old/ (1 file)", "one sub-folder per class",
                   "LABEL_anything.wav files at the top level")
    assert not (tmp_path / "cache").exists()


def test_small_classes_are_warned_per_class_with_numbers(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    _labelled(audio, {"big": 10, "tiny": 2, "four": 4})
    proc = _prepare("--data", f"folder:{audio}", "--cache-dir", str(tmp_path / "cache"),
                    "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 2, lines
    tiny = next(line for line in warnings if "'tiny'" in line)
    four = next(line for line in warnings if "'four'" in line)
    assert "2 file(s): 2 train, 0 val, 0 test, so no val and no test clip" in tiny
    assert ">= 5 files for a val clip and >= 3 files for a test clip" in tiny
    assert "4 file(s): 3 train, 0 val, 1 test, so no val clip" in four
    assert ">= 5 files for a val clip" in four and "test clip" not in four
    assert lines[-1].startswith("built feature cache")
    assert json.loads(proc.stdout)["ok"] == 16


@pytest.mark.parametrize(("per_class", "needles"), [
    (2, ("the val and the test splits of", "are empty", "files per class: a 2, b 2, c 2",
         ">= 5 files for a val clip and >= 3 files for a test clip")),
    (4, ("the val split of", "is empty", "files per class: a 4, b 4, c 4",
         ">= 5 files for a val clip: add recordings")),
])
def test_an_empty_split_is_refused_before_decoding(tmp_path: Path, per_class: int,
                                                    needles: tuple[str, ...]) -> None:
    audio = tmp_path / "audio"
    _labelled(audio, dict.fromkeys("abc", per_class))
    one_line_error(_prepare("--data", f"folder:{audio}", "--cache-dir", str(tmp_path / "cache"),
                            cwd=tmp_path), f"folder:{audio}", *needles)
    assert not list((tmp_path / "cache").glob("*/index.json"))  # nothing was decoded


def _fma_missing_csv(root: Path) -> Path:
    (root / "fma_small").mkdir(parents=True)
    return root / "fma_metadata" / "tracks.csv"


def _fma_bad_columns(root: Path) -> Path:
    write_fma(root)
    csv = root / "fma_metadata" / "tracks.csv"
    tracks = pd.read_csv(csv, index_col=0, header=[0, 1])
    tracks.drop(columns=[("track", "genre_top")]).to_csv(csv)
    return csv


@pytest.mark.parametrize("case", ["missing_tracks_csv", "bad_columns", "empty_folder",
                                  "unknown_scheme"])
def test_whole_source_problems_are_one_line(tmp_path: Path, case: str) -> None:
    root = tmp_path / "data"
    if case == "missing_tracks_csv":
        spec, needles = f"fma:{root}", (str(_fma_missing_csv(root)), "not found")
    elif case == "bad_columns":
        spec, needles = f"fma:{root}", (str(_fma_bad_columns(root)), "track/genre_top")
    elif case == "empty_folder":
        root.mkdir()
        spec, needles = f"folder:{root}", (str(root), "holds no audio files")
    else:
        spec, needles = f"s3://bucket/{root}", ("unknown data source", "folder:DIR")
    one_line_error(_prepare("--data", spec, "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path),
                   *needles)


def test_unwritable_cache_dir_is_one_line(tmp_path: Path) -> None:
    # Tests run as root, which ignores permission bits: a path below a regular file fails
    # for everyone.
    (tmp_path / "file.txt").write_text("")
    audio = tmp_path / "audio"
    audio.mkdir()
    for label in ("a", "b"):
        for n in range(5):  # 5 per class: every split gets a clip
            sf.write(audio / f"{label}_{n}.wav", _tone(0.5, 400 + 300 * n), 8000)
    cache = tmp_path / "file.txt" / "cache"
    one_line_error(_prepare("--data", f"folder:{audio}", "--cache-dir", str(cache), cwd=tmp_path),
                   f"cannot write the feature cache directory {cache}", "--cache-dir")


_SLOW_PREPARE = """
import sys, time
from objectives.data import features
from study.cli import main
real = features.featurize
def slow(path, settings):  # a decode that takes a while, so the kill lands mid-build
    time.sleep(0.02)
    return real(path, settings)
features.featurize = slow
raise SystemExit(main(["prepare", *sys.argv[1:]]))
"""


@pytest.mark.slow
def test_killed_build_is_finished_by_the_rerun(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    for c, label in enumerate(("low", "mid", "high", "top")):
        (audio / label).mkdir(parents=True)
        for n in range(50):
            sf.write(audio / label / f"{n}.wav", _tone(0.4, 200 + 600 * c + 5 * n), 8000)
    cache = tmp_path / "cache"
    args = ["--data", f"folder:{audio}", "--cache-dir", str(cache), "--workers", "1",
            "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_PREPARE, *args], cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list(cache.glob("*.partial/items/*.npy"))) < 40:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never got going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = next(cache.glob("*.partial"))
    key = partial.name.removesuffix(".partial")
    assert not (cache / key).exists()  # nothing complete-looking was left behind
    done_before = len(list(partial.glob("items/*.npy")))
    assert 40 <= done_before < 200
    # What a kill during a write leaves (results are written to a temp file, then renamed).
    (partial / "items" / ".junk.npy.123.tmp").write_bytes(b"\x93NUMPY")

    rerun = _prepare(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    resumed = json.loads(rerun.stdout)
    assert resumed["reused"] is False and resumed["ok"] == 200 and resumed["failed"] == 0
    assert not partial.exists()
    clean = json.loads(_prepare("--data", f"folder:{audio}", "--cache-dir",
                                str(tmp_path / "clean"), "--workers", "1", cwd=tmp_path).stdout)
    assert clean["key"] == resumed["key"]
    a, b = Path(resumed["directory"]), Path(clean["directory"])
    assert json.loads((a / "index.json").read_text()) == json.loads((b / "index.json").read_text())
    assert np.array_equal(np.load(a / "features.npy"), np.load(b / "features.npy"))
    assert _prepare(*args, cwd=tmp_path).returncode == 0  # and the finished cache is reused from now on
