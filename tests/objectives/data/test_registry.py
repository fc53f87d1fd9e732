"""`--data` specs: the forms parse_source accepts, and errors for the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from objectives.data.base import DataSourceError
from objectives.data.registry import normalize_spec, parse_source


@pytest.mark.parametrize("spec", ["nope:x", "fma", "folder:", "synthetic:abc", "synthetic:2", ""])
def test_unknown_or_bad_specs(tmp_path, spec):
    with pytest.raises(DataSourceError):
        parse_source(spec, cache_dir=tmp_path)


def test_official_split_only_for_fma(tmp_path):
    with pytest.raises(DataSourceError, match="official"):
        parse_source("synthetic", cache_dir=tmp_path, split="official")
    with pytest.raises(DataSourceError, match="unknown split"):
        parse_source("synthetic", cache_dir=tmp_path, split="random")


def test_normalize_spec_makes_directories_absolute(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    cwd = Path.cwd()
    assert normalize_spec("folder:rel/audio") == f"folder:{cwd / 'rel' / 'audio'}"
    assert normalize_spec("fma:./fma") == f"fma:{cwd / 'fma'}"
    assert normalize_spec("folder:../up") == f"folder:{cwd.parent / 'up'}"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert normalize_spec("folder:~/x") == f"folder:{tmp_path / 'home' / 'x'}"
    assert normalize_spec("folder:/abs/a") == "folder:/abs/a"
    assert normalize_spec("synthetic") == "synthetic"
    assert normalize_spec("synthetic:6") == "synthetic:6"


@pytest.mark.parametrize("spec", ["nope:x", "fma", "folder:", "synthetic:abc", "synthetic:2", ""])
def test_normalize_spec_refuses_what_parse_source_refuses(spec):
    with pytest.raises(DataSourceError):
        normalize_spec(spec)
