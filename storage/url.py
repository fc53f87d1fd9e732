"""Storage URLs: parsing, normalising and redacting them (which URL applies: study.defaults).

Secrets are hidden by structure, never by searching for the password as a plain string: the
userinfo of URLs (`scheme://user:***@host`) and the value of `password=` settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy.engine
import sqlalchemy.exc

from storage.errors import StorageError

SUPPORTED = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
PERCENT_ENCODING = "@ → %40, : → %3A, / → %2F, % → %25"

# `scheme://user:password@` in a message; the password runs to the token's last `@`, because
# an unencoded password may hold `@` itself.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)[^\s'\"]*(?=@)")
# `?password=...` / `&password=...` in a URL's query (SQLAlchemy passes it to the driver).
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s'\"]*")
# libpq connection-string setting: `password=secret` or `password = 'it''s \' quoted'`.
_DSN_PASSWORD = re.compile(r"(?P<head>(?<![?&\w])password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'\"]+)")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def normalize_url(url: str) -> str:
    """Give PostgreSQL URLs without a driver the installed psycopg 3 driver.

    `postgresql://` and `postgres://` become `postgresql+psycopg://`; other URLs are returned
    unchanged (an explicit driver such as `postgresql+psycopg2://` is kept).
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def backend_name(url: str) -> str:
    """The backend name of a URL: `sqlite`, `postgresql`, `mysql`, ... (the scheme sans driver)."""
    scheme = url.partition("://")[0].partition("+")[0].lower()
    return "postgresql" if scheme == "postgres" else scheme


@dataclass(frozen=True)
class StorageURL:
    """A storage URL parsed once: `url` with its driver (what SQLAlchemy connects to), its parts,
    and the forms that may be shown. `StorageURL.parse` is where every URL is checked."""

    given: str  # as the user wrote it, stripped
    url: str  # normalised: PostgreSQL with the installed psycopg 3 driver
    parsed: sqlalchemy.engine.URL

    @classmethod
    def parse(cls, text: str) -> StorageURL:
        """Raises StorageError (one line, no password) for a URL that cannot be parsed."""
        given = text.strip()
        parse_url(given)  # errors show the URL as the user wrote it
        url = normalize_url(given)
        return cls(given=given, url=url, parsed=sqlalchemy.engine.make_url(url))

    @property
    def backend(self) -> str:
        return backend_name(self.url)

    @property
    def redacted(self) -> str:
        return redact_url(self.url)

    @property
    def sqlite_file(self) -> Path | None:
        """The file of an `sqlite:` URL (relative to the CWD, as SQLite resolves it); None in
        memory or for other backends."""
        database = self.parsed.database
        if self.backend != "sqlite" or not database or database == ":memory:" \
                or database.startswith("file:"):
            return None
        return Path(database)

    def __str__(self) -> str:  # never the password, wherever it is formatted
        return self.redacted


def parse_url(url: str) -> sqlalchemy.engine.URL:
    """The parsed URL, or a StorageError that shows the URL without its user name and password.

    Rejects what SQLAlchemy would misread: an unencoded `@` or `/` in the user name or password
    (SQLAlchemy splits at the first `@`, so part of the password becomes the host), or a `%`
    that starts no percent-escape.
    """
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise StorageError(
            f"not a storage URL: {_hide_userinfo(url)!r}; expected {SUPPORTED}"
        ) from None
    except ValueError:  # e.g. int() of a "port" that is a piece of the password
        raise _unparsable(url) from None
    rest = url.partition("://")[2]
    if parsed.get_backend_name() != "sqlite" and "@" in rest:
        userinfo = rest.rpartition("@")[0]
        if (
            rest.count("@") > 1
            or parsed.username is None
            or "@" in (parsed.host or "")
            or _BAD_PERCENT.search(userinfo)
        ):
            raise _unparsable(url)
    return parsed


def _unparsable(url: str) -> StorageError:
    return StorageError(
        f"could not parse the storage URL {_hide_userinfo(url)!r}: special characters in the "
        f"user name or password must be percent-encoded ({PERCENT_ENCODING}), and a port must "
        "be a number"
    )


def _hide_userinfo(url: str) -> str:
    """`scheme://***@host...` for a URL that cannot be parsed (so no piece of it is trusted)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    try:
        sqlalchemy.engine.make_url(url)
        return url  # parses and has no userinfo
    except (sqlalchemy.exc.ArgumentError, ValueError):
        # No `@`, yet unparsable: a forgotten host can make `user:password` look like host:port.
        slash = rest.find("/")
        return f"{scheme}://***{rest[slash:] if slash >= 0 else ''}"


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (safe to print and log).

    A URL that cannot be parsed shows neither user name nor password (`scheme://***@host...`).
    """
    try:
        parsed = parse_url(url)
    except StorageError:
        return _hide_userinfo(url)
    if parsed.password is not None:
        url = parsed.render_as_string(hide_password=True)
    return _QUERY_PASSWORD.sub(r"\g<head>***", url)


def scrub(text: str, url: str | None = None) -> str:
    """`text` with the password of every URL in it, and of `password=` settings, hidden.

    `url` (the storage URL the text is about) is replaced whole by its redacted form wherever it
    appears, in the forms it may be printed in; the rest of the text is kept as it is.
    """
    if url:
        forms = {url, url.strip(), normalize_url(url.strip())}
        try:
            forms.add(parse_url(url.strip()).render_as_string(hide_password=False))
        except StorageError:
            pass
        for form in sorted(forms, key=len, reverse=True):
            redacted = redact_url(form)
            if form and redacted != form:
                text = text.replace(form, redacted)
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    text = _QUERY_PASSWORD.sub(r"\g<head>***", text)
    return _DSN_PASSWORD.sub(r"\g<head>***", text)
