"""Faults the storage tests inject: passwords that break careless code, and SQLite files damaged
on purpose (one b-tree page overwritten, as a disk or copy error would)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# Passwords that a substring scrubber turns into damage: letters of the message, digits of the
# address, a word of the message, and every character a URL must encode.
AWKWARD_PASSWORDS = ["e", "1", "postgres", "@:/%"]


def root_page(path: Path, name: str) -> int:
    """The page number of the root of table or index `name` (pages count from 1)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        row = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    conn.close()
    assert row is not None and row[0] > 1, (name, row)
    return int(row[0])


def garble_page(path: Path, page: int) -> None:
    """Overwrite page `page` with 0xFF bytes (an invalid b-tree page type)."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    overwrite(path, (page - 1) * page_size, b"\xff" * page_size)


def overwrite(path: Path, offset: int, data: bytes) -> None:
    """Write `data` over the bytes of the file at `offset`."""
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(data)
