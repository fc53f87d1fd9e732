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
    import re

    source = Path(defaults.__file__).read_text()
    named = {name for value in re.findall(r"^[A-Z_]+_ENV = (.*)$", source, re.MULTILINE)
             for name in re.findall(r'"(STUDY_[A-Z_]+|OPTUNA_[A-Z_]+)"', value)}
    assert len(named) >= 10 and named <= set(defaults.ENV_VARS)


@pytest.fixture
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDY_STORAGE", raising=False)
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)


@pytest.mark.usefixtures("_no_storage_env")
def test_default_storage_when_nothing_is_set() -> None:
    assert defaults.storage_url() == defaults.STORAGE_URL == "sqlite:///studies.db"


@pytest.mark.usefixtures("_no_storage_env")
def test_storage_precedence_flag_then_study_env_then_optuna_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTUNA_STORAGE", "sqlite:///optuna.db")
    assert defaults.storage_url() == "sqlite:///optuna.db"
    monkeypatch.setenv("STUDY_STORAGE", "sqlite:///study.db")
    assert defaults.storage_url() == "sqlite:///study.db"
    assert defaults.storage_url("sqlite:///flag.db") == "sqlite:///flag.db"


@pytest.mark.usefixtures("_no_storage_env")
def test_storage_resolved_at_call_time_and_empty_counts_as_unset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDY_STORAGE", "")
    monkeypatch.setenv("OPTUNA_STORAGE", "sqlite:///later.db")
    assert defaults.storage_url("") == "sqlite:///later.db"


def test_explicit_environ_mapping_is_used_instead_of_os_environ(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDY_STORAGE", "sqlite:///ignored.db")
    assert defaults.storage_url(None, {"OPTUNA_STORAGE": "sqlite:///x.db"}) == "sqlite:///x.db"
    assert defaults.storage_url(None, {}) == defaults.STORAGE_URL


def test_workers_open_the_storage_with_the_default_heartbeat() -> None:
    from storage import RetryStaleTrialOnce
    from study import service

    storage = service.open_study_storage("sqlite:///:memory:",
                                   heartbeat=service.Heartbeat(*defaults.heartbeat(None, None, {})))
    assert storage.heartbeat_interval == 30
    assert storage.grace_period == 120
    callback = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, RetryStaleTrialOnce)
    assert callback.max_retry == 3
    assert storage.failed_trial_callback is callback  # the deprecated alias points at it too


def test_artifact_store_precedence_flag_env_recorded_default(tmp_path):
    """A host with neither flag nor variable uses the store the study recorded at create."""
    env, recorded = {"STUDY_ARTIFACTS": "s3://env-bucket"}, str(tmp_path / "recorded")
    assert defaults.artifacts("gs://flag", env, recorded=recorded) == "gs://flag"
    assert defaults.artifacts(None, env, recorded=recorded) == "s3://env-bucket"
    assert defaults.artifacts(None, {}, recorded=recorded) == recorded
    assert defaults.artifacts(None, {}) == str(Path.cwd() / "study_artifacts")
