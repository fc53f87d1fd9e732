"""`UserError`: a problem the user can fix, shown as one `error: …` line with exit code 1."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says what to do."""
