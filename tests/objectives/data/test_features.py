"""The feature cache: values, reuse, invalidation, interrupted builds, bad files, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from objectives.data import features
from objectives.data.features import FeatureCacheError, build_cache, cache_key, featurize
from objectives.data.folder import FolderSource
from objectives.data.registry import parse_source
from objectives.profiles import FeatureSettings
from tests.objectives.data.fma_layout import write_fma

SETTINGS = FeatureSettings(sample_rate=8000, n_mels=16, n_fft=256, hop_length=128,
                           clip_seconds=2.0)


def _tone(seconds: float, freq: float, sr: int = 8000, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave, 0.5 * wave], axis=1)


def _folder(root: Path, per_class: int = 5) -> Path:
    for c, label in enumerate(("low", "high")):
        for n in range(per_class):
            path = root / label / f"{n}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, _tone(0.5 + 0.1 * n, 300 + 1500 * c), 8000)
    return root


def test_features_have_the_documented_shape_and_scale(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, _tone(1.0, 440), 8000)
    values = featurize(path, SETTINGS)
    assert values.dtype == np.float32 and values.shape == (1 + 8000 // 128, 16)
    assert values.max() == pytest.approx(1.0)  # ref=np.max → 0 dB → (0 + 40) / 40
    assert values.min() >= -1.0 - 1e-6  # power_to_db's 80 dB floor


def test_stereo_44k_file_is_downmixed_and_resampled(tmp_path):
    path = tmp_path / "stereo.flac"
    sf.write(path, _tone(1.0, 440, sr=44100, channels=2), 44100)
    assert featurize(path, SETTINGS).shape == (1 + 8000 // 128, 16)


def test_clip_seconds_limits_decoding(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _tone(5.0, 440), 8000)
    assert len(featurize(path, SETTINGS)) == 1 + 16000 // 128


def test_build_then_reuse_without_decoding(tmp_path, monkeypatch, capsys):
    source = FolderSource(_folder(tmp_path / "audio"))
    cache = build_cache(source, SETTINGS, tmp_path / "cache", workers=1)
    assert not cache.reused and "built 10 clips" in capsys.readouterr().err
    assert cache.classes == ("high", "low")
    clips, labels = cache.split("train")
    assert len(clips) == 6 and labels.dtype == np.int64
    assert all(clip.dtype == np.float32 and clip.shape[1] == 16 for clip in clips)
    assert isinstance(cache.features, np.memmap)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a reused cache must not decode")

    monkeypatch.setattr(features, "decode_audio", no_decoding)
    again = build_cache(source, SETTINGS, tmp_path / "cache", workers=1)
    assert again.reused and again.key == cache.key
    assert "reusing" in capsys.readouterr().err
    for name in ("train", "val", "test"):
        a, b = cache.split(name), again.split(name)
        assert len(a[0]) > 0 and all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
        assert np.array_equal(a[1], b[1])


def test_values_match_featurize_and_labels_match_items(tmp_path):
    source = FolderSource(_folder(tmp_path / "audio"))
    cache = build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    by_id = {item.item_id: item for item in source.items()}
    for name in ("train", "val", "test"):
        clips, labels = cache.split(name)
        rows = [r for r in cache.index if r["split"] == name and r["status"] == "ok"]
        assert len(clips) > 0
        for clip, label, row in zip(clips, labels, rows, strict=True):
            assert cache.classes[label] == by_id[row["item_id"]].label
            np.testing.assert_array_equal(clip, featurize(by_id[row["item_id"]].path, SETTINGS))


def test_different_settings_or_files_give_a_different_key(tmp_path):
    root = _folder(tmp_path / "audio")
    source = FolderSource(root)
    other = FeatureSettings(**{**SETTINGS.as_dict(), "n_mels": 20})
    assert cache_key(source, SETTINGS) == cache_key(FolderSource(root), SETTINGS)
    assert cache_key(source, SETTINGS) != cache_key(source, other)
    assert cache_key(source, SETTINGS) != cache_key(FolderSource(root, seed=1), SETTINGS)
    a = build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    b = build_cache(source, other, tmp_path / "cache", workers=1, progress=False)
    assert a.directory != b.directory and not b.reused
    assert b.split("train")[0][0].shape[1] == 20


def test_interrupted_build_resumes_and_matches_a_clean_build(tmp_path, monkeypatch):
    source = FolderSource(_folder(tmp_path / "audio"))
    real, calls = features.featurize, []

    def dies_after_four(path, settings):
        if len(calls) == 4:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        calls.append(path)
        return real(path, settings)

    monkeypatch.setattr(features, "featurize", dies_after_four)
    with pytest.raises(KeyboardInterrupt):
        build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    key = cache_key(source, SETTINGS)
    assert not (tmp_path / "cache" / key).exists()  # nothing a later run could trust
    assert len(list((tmp_path / "cache" / f"{key}.partial" / "items").glob("*.npy"))) == 4

    monkeypatch.setattr(features, "featurize", lambda p, s: calls.append(p) or real(p, s))
    resumed = build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    assert len(calls) == 10  # 4 before the interruption + the 6 left
    assert not (tmp_path / "cache" / f"{key}.partial").exists()
    clean = build_cache(source, SETTINGS, tmp_path / "clean", workers=1, progress=False)
    assert resumed.index == clean.index
    assert np.array_equal(np.asarray(resumed.features), np.asarray(clean.features))


def test_directory_without_completion_marker_is_rebuilt(tmp_path):
    source = FolderSource(_folder(tmp_path / "audio"))
    first = build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    (first.directory / "complete.json").unlink()
    (first.directory / "features.npy").write_bytes(b"garbage")
    rebuilt = build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    assert not rebuilt.reused and len(rebuilt.split("train")[0]) == 6


def test_bad_files_are_recorded_with_reasons_and_skipped(tmp_path):
    root = _folder(tmp_path / "audio")
    (root / "low" / "corrupt.mp3").write_bytes(b"\xff\xfb\x90\x00" + bytes(range(256)) * 8)
    (root / "low" / "zero.mp3").write_bytes(b"")
    (root / "high" / "text.mp3").write_text("this is not audio\n")
    sf.write(root / "high" / "silent.wav", np.zeros(4000, dtype=np.float32), 8000)
    sf.write(root / "high" / "tiny.wav", _tone(0.005, 440), 8000)
    cache = build_cache(FolderSource(root), SETTINGS, tmp_path / "cache", workers=1,
                        progress=False)
    summary = cache.summary()
    failed = {row["item_id"]: row["reason"] for row in summary["failed_items"]}
    assert set(failed) == {"low/corrupt.mp3", "low/zero.mp3", "high/text.mp3",
                           "high/silent.wav", "high/tiny.wav"}
    assert "0 bytes" in failed["low/zero.mp3"]
    assert "cannot decode" in failed["high/text.mp3"]
    assert "silent" in failed["high/silent.wav"]
    assert "too short" in failed["high/tiny.wav"]
    assert summary["failed"] == 5 and summary["ok"] == 10 and summary["items"] == 15
    ok_ids = {r["item_id"] for r in cache.index if r["status"] == "ok"}
    assert sum(len(cache.split(s)[0]) for s in ("train", "val", "test")) == len(ok_ids) == 10


def test_fma_fixture_bad_clips(tmp_path):
    written = write_fma(tmp_path / "fma")
    source = parse_source(f"fma:{tmp_path / 'fma'}", cache_dir=tmp_path, split="official")
    cache = build_cache(source, SETTINGS, tmp_path / "cache", workers=1, progress=False)
    rows = {r["item_id"]: r for r in cache.index}
    assert rows[written["missing"]]["status"] == "failed"
    assert rows[written["missing"]]["reason"] == "file not found"
    assert rows[written["empty"]]["status"] == "failed"
    assert "0 bytes" in rows[written["empty"]]["reason"]
    assert rows[written["short"]]["status"] == "ok"  # short clips are kept, never padded here
    assert rows[written["short"]]["frames"] < min(
        rows[i]["frames"] for i in written["small_ok"])
    assert all(rows[i]["status"] == "ok" for i in written["small_ok"])
    assert cache.classes[0] == "International"
    _clips, labels = cache.split("train")
    assert set(labels.tolist()) == set(range(8))


def test_every_file_failing_is_an_error(tmp_path):
    root = tmp_path / "audio"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        (root / label / "x.mp3").write_text("not audio")
    with pytest.raises(FeatureCacheError, match="all 2 file"):
        build_cache(FolderSource(root), SETTINGS, tmp_path / "cache", workers=1, progress=False)


def test_unwritable_cache_dir_is_named(tmp_path):
    source = FolderSource(_folder(tmp_path / "audio"))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(FeatureCacheError, match=str(blocker / "cache")):
        build_cache(source, SETTINGS, blocker / "cache", workers=1, progress=False)


def test_parallel_build_matches_serial(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "IN_PROCESS_BELOW", 0)
    source = FolderSource(_folder(tmp_path / "audio", per_class=8))
    parallel = build_cache(source, SETTINGS, tmp_path / "p", workers=2, progress=False)
    serial = build_cache(source, SETTINGS, tmp_path / "s", workers=1, progress=False)
    assert parallel.index == serial.index
    assert np.array_equal(np.asarray(parallel.features), np.asarray(serial.features))


def test_summary_is_json(tmp_path):
    source = FolderSource(_folder(tmp_path / "audio"))
    summary = build_cache(source, SETTINGS, tmp_path / "c", workers=1, progress=False).summary()
    assert json.loads(json.dumps(summary))["splits"]["train"] == {"ok": 6, "failed": 0}


def test_a_skipped_file_is_a_failed_record_in_no_split(tmp_path):
    root = _folder(tmp_path / "audio")
    sf.write(root / "low" / "tmp.wav", _tone(0.5, 300), 8000)
    os.rename(root / "low" / "tmp.wav", os.fsencode(root / "low") + b"/\xe9t\xe9.wav")
    cache = build_cache(FolderSource(root), SETTINGS, tmp_path / "cache", workers=1,
                        progress=False)
    summary = json.loads(json.dumps(cache.summary()))
    assert summary["items"] == 11 and summary["ok"] == 10 and summary["failed"] == 1
    assert summary["failed_items"] == [{
        "item_id": "low/\\xe9t\\xe9.wav", "label": "", "split": "",
        "reason": "file name is not valid UTF-8: low/\\xe9t\\xe9.wav; rename the file to use it"}]
    assert sum(c["ok"] + c["failed"] for c in summary["splits"].values()) == 10
    assert sum(len(cache.split(s)[0]) for s in ("train", "val", "test")) == 10
    again = build_cache(FolderSource(root), SETTINGS, tmp_path / "cache", workers=1,
                        progress=False)
    assert again.reused and again.index == cache.index
