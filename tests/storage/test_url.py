"""URL resolution precedence, normalisation and redaction."""

from __future__ import annotations

import pytest

from storage import (
    DEFAULT_STORAGE_URL,
    StorageError,
    backend_of,
    normalize_url,
    redact_url,
    resolve_storage_url,
)
from storage.url import scrub


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDY_STORAGE", raising=False)
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)


def test_default_when_nothing_is_set() -> None:
    assert resolve_storage_url() == DEFAULT_STORAGE_URL == "sqlite:///studies.db"


def test_precedence_flag_then_study_env_then_optuna_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTUNA_STORAGE", "sqlite:///optuna.db")
    assert resolve_storage_url() == "sqlite:///optuna.db"
    monkeypatch.setenv("STUDY_STORAGE", "sqlite:///study.db")
    assert resolve_storage_url() == "sqlite:///study.db"
    assert resolve_storage_url("sqlite:///flag.db") == "sqlite:///flag.db"


def test_resolved_at_call_time_and_empty_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDY_STORAGE", "")
    monkeypatch.setenv("OPTUNA_STORAGE", "sqlite:///later.db")
    assert resolve_storage_url("") == "sqlite:///later.db"


def test_explicit_environ_mapping_is_used_instead_of_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STUDY_STORAGE", "sqlite:///ignored.db")
    assert resolve_storage_url(None, {"OPTUNA_STORAGE": "sqlite:///x.db"}) == "sqlite:///x.db"
    assert resolve_storage_url(None, {}) == DEFAULT_STORAGE_URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg2://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ("sqlite:///studies.db", "sqlite:///studies.db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_backend_of() -> None:
    assert backend_of("postgres://h/db") == "postgresql"
    assert backend_of("postgresql+psycopg://h/db") == "postgresql"
    assert backend_of("sqlite:///x.db") == "sqlite"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://alice:s3cret@h:5432/db", "postgresql+psycopg://alice:***@h:5432/db"),
        ("postgresql://alice:p%40ss@h/db", "postgresql://alice:***@h/db"),
        ("postgresql://alice@h/db", "postgresql://alice@h/db"),
        ("sqlite:///studies.db", "sqlite:///studies.db"),
        ("not a url://bob:hunter2@h", "not a url://bob:***@h"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_scrub_removes_plain_and_quoted_password() -> None:
    url = "postgresql://alice:p%40ss@h/db"
    text = scrub("failed for p@ss and p%40ss in postgresql://alice:p%40ss@h/db", url)
    assert "p@ss" not in text and "p%40ss" not in text


def test_storage_error_is_a_runtime_error() -> None:
    assert issubclass(StorageError, RuntimeError)
