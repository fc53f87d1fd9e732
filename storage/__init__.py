"""Turning a storage URL into an Optuna storage: SQLite, PostgreSQL, heartbeats, errors.

The service calls `open_storage` (the RDBStorage for a URL; which URL applies is decided by
`study.defaults`); every storage failure reaches users as one password-free `StorageError` line.
What reaches past Optuna's public API lives in `storage.optuna_internals`.
"""

from __future__ import annotations

from storage.errors import StorageError, StorageUnreachable
from storage.rdb import open_storage
from storage.url import StorageURL, backend_name, normalize_url, redact_url

__all__ = ["StorageError", "StorageURL", "StorageUnreachable", "backend_name", "normalize_url", "open_storage",
           "redact_url"]
