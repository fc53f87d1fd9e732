"""How the objectives' commands report failures: one `error:` line, the traceback on `--debug`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def run_reporting_errors(action: Callable[[], Any], *, debug: bool) -> tuple[bool, Any]:
    """(True, result) when `action` succeeds; (False, None) after printing one error line."""
    try:
        return True, action()
    except Exception as error:  # one line for the user; the traceback only on request
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return False, None
