"""Small helpers shared by the tests: gating on optional tools, free ports, bounded waits and the
checks of a CLI's error output."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from typing import NoReturn

import pytest


def require_or_skip(variable: str, reason: str) -> NoReturn:
    """Skip with `reason`; fail instead when `variable` is "1" (CI, where the tool must exist)."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free when this returns)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def cli_error(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    """The stderr of a command that failed cleanly: exit `code` and no traceback."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The only output of a command that failed cleanly with exit code 1: one `error:` line on
    stderr holding every needle, nothing on stdout."""
    cli_error(proc)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
