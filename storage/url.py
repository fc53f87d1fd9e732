"""Storage URLs: which one applies (flag > env > default), normalising and redacting them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import unquote

import sqlalchemy.engine
import sqlalchemy.exc

# Relative to the directory the user runs the command in, like SQLite paths always are.
DEFAULT_STORAGE_URL = "sqlite:///studies.db"
ENV_VARS = ("STUDY_STORAGE", "OPTUNA_STORAGE")
SUPPORTED = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

# user:password@ in anything that looks like a URL (used when SQLAlchemy cannot parse it).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)")


def resolve_storage_url(
    cli_value: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The storage URL: `--storage` value, else STUDY_STORAGE, else OPTUNA_STORAGE, else default.

    Read at call time; empty values count as unset.
    """
    if cli_value:
        return cli_value
    env = os.environ if environ is None else environ
    for name in ENV_VARS:
        if env.get(name):
            return env[name]
    return DEFAULT_STORAGE_URL


def normalize_url(url: str) -> str:
    """Give PostgreSQL URLs without a driver the installed psycopg 3 driver.

    `postgresql://` and `postgres://` become `postgresql+psycopg://`; other URLs are returned
    unchanged (an explicit driver such as `postgresql+psycopg2://` is kept).
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def backend_of(url: str) -> str:
    """The backend name of a URL: `sqlite`, `postgresql`, `mysql`, ... (the scheme sans driver)."""
    scheme = url.partition("://")[0].partition("+")[0].lower()
    return "postgresql" if scheme == "postgres" else scheme


def password_of(url: str) -> str | None:
    """The password in a URL, if any (so error texts can be scrubbed of it)."""
    try:
        password = sqlalchemy.engine.make_url(url).password
    except sqlalchemy.exc.ArgumentError:
        match = _USERINFO.search(url)
        password = unquote(match.group("pw")) if match else None
    return str(password) if password else None


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (safe to print and log)."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return _USERINFO.sub(r"\g<head>***", url)
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def scrub(text: str, url: str) -> str:
    """Remove the URL's password (plain or URL-quoted) from a message."""
    password = password_of(url)
    if password:
        raw = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
        for secret in {password, raw} - {""}:
            text = text.replace(secret, "***")
    return _USERINFO.sub(r"\g<head>***", text)
