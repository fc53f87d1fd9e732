"""URL normalisation, parsing and redaction (which URL applies: tests/study/test_defaults.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from storage import StorageError, StorageURL, backend_name, normalize_url, redact_url
from storage.url import parse_url, scrub
from tests.storage.faults import AWKWARD_PASSWORDS


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


def test_backend_name() -> None:
    assert backend_name("postgres://h/db") == "postgresql"
    assert backend_name("postgresql+psycopg://h/db") == "postgresql"
    assert backend_name("sqlite:///x.db") == "sqlite"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://alice:s3cret@h:5432/db", "postgresql+psycopg://alice:***@h:5432/db"),
        ("postgresql://alice:p%40ss@h/db", "postgresql://alice:***@h/db"),
        ("postgresql://alice@h/db", "postgresql://alice@h/db"),
        ("sqlite:///studies.db", "sqlite:///studies.db"),
        ("postgresql://alice@h/db?password=s3cret&sslmode=require",
         "postgresql://alice@h/db?password=***&sslmode=require"),
        # Unparsable: neither user name nor password is shown, not even the part before an `@`.
        ("not a url://bob:hunter2@h", "not a url://***@h"),
        ("postgresql://alice:p@ss:w/rd%@127.0.0.1:5432/db", "postgresql://***@127.0.0.1:5432/db"),
        ("postgresql://alice:p@ss@h/db", "postgresql://***@h/db"),
        ("postgresql://al/ice:s3cret@h/db", "postgresql://***@h/db"),
        ("postgresql://alice:s3cret/db", "postgresql://***/db"),  # forgotten host
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:p@ss:w/rd%@127.0.0.1:5432/db",  # the issue's: int() of "w"
        "postgresql://alice:p@ss@127.0.0.1:5432/db",  # would connect to host "ss@127.0.0.1"
        "postgresql://al/ice:s3cret@127.0.0.1:5432/db",  # would connect to host "al"
        "postgresql://alice:50%off@127.0.0.1:5432/db",  # a % that starts no escape
    ],
)
def test_unencoded_userinfo_is_one_clear_error(url: str) -> None:
    with pytest.raises(StorageError) as info:
        parse_url(url)
    message = str(info.value)
    shown = "'postgresql://***@127.0.0.1:5432/db'"
    assert message.startswith(f"could not parse the storage URL {shown}")
    assert "must be percent-encoded (@ → %40, : → %3A, / → %2F, % → %25)" in message
    userinfo = url.partition("://")[2].rpartition("@")[0]
    for piece in {userinfo, *userinfo.replace("/", "@").replace(":", "@").split("@")} - {""}:
        assert f"'{piece}'" not in message and f"{piece}@" not in message


@pytest.mark.parametrize("password", [*AWKWARD_PASSWORDS, "p@ss:w/rd%"])
def test_percent_encoded_userinfo_parses(password: str) -> None:
    parsed = parse_url(f"postgresql://alice:{quote(password, safe='')}@127.0.0.1:5432/db")
    assert (parsed.username, parsed.password, parsed.host) == ("alice", password, "127.0.0.1")


def test_sqlite_paths_may_hold_at_signs_and_colons() -> None:
    assert parse_url("sqlite:///runs/a@b:c.db").database == "runs/a@b:c.db"


@pytest.mark.parametrize("password", AWKWARD_PASSWORDS)
def test_scrub_hides_the_url_password_and_keeps_the_rest(password: str) -> None:
    url = f"postgresql://alice:{quote(password, safe='')}@127.0.0.1:5432/postgres"
    message = (
        f"cannot reach postgresql at 127.0.0.1:5432 (connection refused): psql -U alice "
        f"-d postgres; tried {url} and '{url.replace('postgresql://', 'postgresql+psycopg://')}'"
    )
    assert scrub(message, url) == (
        "cannot reach postgresql at 127.0.0.1:5432 (connection refused): psql -U alice "
        "-d postgres; tried postgresql://alice:***@127.0.0.1:5432/postgres and "
        "'postgresql+psycopg://alice:***@127.0.0.1:5432/postgres'"
    )


def test_scrub_hides_raw_userinfo_of_any_url_in_the_text() -> None:
    text = "bad 'mysql://root:p@ss w@h/db' and postgresql://bob:x:y@h/db, user bob"
    # The known URL goes whole; unknown ones lose everything up to their last `@`.
    assert scrub(text, "mysql://root:p@ss w@h/db") == (
        "bad 'mysql://***@h/db' and postgresql://bob:***@h/db, user bob"
    )
    assert scrub("postgresql://bob:p@ss@h/db") == "postgresql://bob:***@h/db"


def test_scrub_hides_libpq_password_settings() -> None:
    text = (
        "invalid dsn: host=h password=s3cret user=bob / password = 'it\\'s a \\\\ pw' port=1 "
        "/ ?password=x&sslmode=require / password authentication failed for user \"bob\""
    )
    assert scrub(text) == (
        "invalid dsn: host=h password=*** user=bob / password = *** port=1 "
        "/ ?password=***&sslmode=require / password authentication failed for user \"bob\""
    )


def test_storage_error_is_a_runtime_error() -> None:
    assert issubclass(StorageError, RuntimeError)


def test_a_storage_url_is_parsed_once_into_one_value() -> None:
    url = StorageURL.parse("  postgres://user:s3cret@db.example:5433/optuna  ")
    assert url.given == "postgres://user:s3cret@db.example:5433/optuna"
    assert url.url == "postgresql+psycopg://user:s3cret@db.example:5433/optuna"
    assert (url.backend, url.parsed.host, url.parsed.port) == ("postgresql", "db.example", 5433)
    assert "s3cret" not in url.redacted and "s3cret" not in str(url)
    assert url.sqlite_file is None
    assert StorageURL.parse("sqlite:///dir/s.db").sqlite_file == Path("dir/s.db")
    assert StorageURL.parse("sqlite:///:memory:").sqlite_file is None
    with pytest.raises(StorageError, match="percent-encoded"):
        StorageURL.parse("postgresql://user:p@ss@host/db")
