"""A full disk for tests: a tiny tmpfs mounted on a directory under tmp_path (needs root or
CAP_SYS_ADMIN; skipped with the reason elsewhere, failed instead when REQUIRE_TMPFS=1)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import require_or_skip

SIZE = "32k"  # smaller than any model the project saves (hidden 16: 65 kB)


@contextmanager
def tiny_filesystem(directory: Path, size: str = SIZE) -> Iterator[Path]:
    """`directory`, with a `size` tmpfs mounted on it while the block runs."""
    directory.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    proc = subprocess.run([mount or "mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(directory)], capture_output=True, text=True, check=False) \
        if mount else None
    if proc is None or proc.returncode != 0:
        why = "no mount command" if proc is None else (proc.stderr.strip() or proc.returncode)
        require_or_skip("REQUIRE_TMPFS", f"cannot mount a {size} tmpfs to fill a disk (needs "
                        f"root or CAP_SYS_ADMIN): {why}")
    try:
        yield directory
    finally:
        # Lazy: a process the test left behind must not keep the mount (and the test) hanging.
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)
