"""Turning a storage URL into an Optuna storage: SQLite default, PostgreSQL, heartbeats, errors.

The rest of the service only calls `resolve_storage_url` (which URL) and `open_storage`
(the RDBStorage for it); every storage failure reaches users as one `StorageError` line.
"""

from __future__ import annotations

from storage.errors import StorageError
from storage.rdb import open_storage
from storage.url import (
    DEFAULT_STORAGE_URL,
    backend_of,
    normalize_url,
    redact_url,
    resolve_storage_url,
)

__all__ = [
    "DEFAULT_STORAGE_URL",
    "StorageError",
    "backend_of",
    "normalize_url",
    "open_storage",
    "redact_url",
    "resolve_storage_url",
]
