"""`UserError`: a problem the user can fix, shown as one `error: …` line with exit code 1;
`UsageError`: a command called wrongly (a flag it needs is missing), the same line with exit
code 2, as argparse gives an unknown flag."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says what to do."""


class UsageError(UserError):
    """A command called without what it needs; exit code 2, like argparse's usage errors."""
