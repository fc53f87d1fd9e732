"""study.defaults: every default and environment variable, resolved at call time."""

from __future__ import annotations

from pathlib import Path

import pytest

from study import defaults


def test_default_cache_dir_is_resolved_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "x"))
    assert defaults.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("STUDY_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert defaults.cache_dir() == tmp_path / ".cache" / "recon-lambda" / "features"


def test_flags_win_over_the_environment_and_the_environment_over_defaults(tmp_path):
    env = {"STUDY_STORAGE": "sqlite:///env.db", "OPTUNA_STORAGE": "sqlite:///optuna.db",
           "STUDY_NAME": "from-env", "STUDY_MODEL_DIR": str(tmp_path / "m")}
    assert defaults.storage_url("sqlite:///flag.db", env) == "sqlite:///flag.db"
    assert defaults.storage_url(None, env) == "sqlite:///env.db"
    assert defaults.storage_url(None, {"OPTUNA_STORAGE": "sqlite:///o.db"}) == "sqlite:///o.db"
    assert defaults.storage_url(None, {"STUDY_STORAGE": ""}) == defaults.STORAGE_URL
    assert defaults.study_name(None, env) == "from-env"
    assert defaults.study_name(None, {}) == "recon-lambda"
    assert defaults.model_dir(None, env) == tmp_path / "m"
    assert defaults.model_dir(None, {}) == Path.cwd() / "study_models"


def test_heartbeat_and_outage_settings_are_checked():
    assert defaults.heartbeat(None, None, {}) == (30, 120)
    assert defaults.heartbeat(None, None, {"STUDY_HEARTBEAT_INTERVAL": "2"}) == (2, 8)
    assert defaults.heartbeat(5, 9, {"STUDY_HEARTBEAT_INTERVAL": "2"}) == (5, 9)
    with pytest.raises(ValueError, match="must exceed"):
        defaults.heartbeat(10, 10, {})
    with pytest.raises(ValueError, match="STUDY_HEARTBEAT_GRACE must be a whole number"):
        defaults.heartbeat(None, None, {"STUDY_HEARTBEAT_GRACE": "soon"})
    assert defaults.storage_outage(None, {}) == 120.0
    assert defaults.storage_outage(None, {"STUDY_STORAGE_OUTAGE": "15"}) == 15.0
    with pytest.raises(ValueError, match="positive"):
        defaults.storage_outage(None, {"STUDY_STORAGE_OUTAGE": "0"})


def test_every_variable_read_is_listed_for_the_tests_to_clear():
    source = Path(defaults.__file__).read_text()
    named = {line.split("=")[1].strip().strip('"') for line in source.splitlines()
             if line.split("=")[0].strip().endswith("_ENV") and '"' in line}
    assert named <= set(defaults.ENV_VARS)
