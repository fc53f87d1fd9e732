"""What the objectives' commands share: the default feature cache directory."""

from __future__ import annotations

from objectives.cli_common import default_cache_dir


def test_default_cache_dir_is_resolved_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("STUDY_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "recon-lambda" / "features"
