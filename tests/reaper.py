"""What a test started outside itself is cleaned up even when the test process dies unawares.

A fixture's finalizer stops what it started, but a process killed with SIGKILL (a hung xdist
worker that its controller kills, the OOM killer) runs no finalizer. So whoever starts a server,
a namespace or a daemon also starts a reaper: this file run as a tiny separate process (standard
library only, its own session so that a terminal's Ctrl-C does not reach it) that waits for its
owner to exit, then runs the cleanup commands and deletes the directories it was given. A clean
finalizer cancels the reaper first, so it does nothing twice.

    python tests/reaper.py OWNER_PID SPEC_JSON
    SPEC_JSON: {"commands": [{"argv": [...], "uid": 0 | null, "gid": 0 | null}], "remove": [...]}
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Command:
    """One cleanup command, run as `uid`/`gid` when given (PostgreSQL refuses root)."""

    argv: list[str]
    uid: int | None = None
    gid: int | None = None
    cwd: str | None = None  # one the command's user may enter


@dataclass
class Reaper:
    """The watching process; `cancel()` once the owner has cleaned up by itself."""

    process: subprocess.Popen
    commands: list[Command] = field(default_factory=list)

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def watch(commands: list[Command], remove: list[str] | None = None) -> Reaper:
    """Start a reaper for this process: when it exits, run `commands`, then delete `remove`."""
    spec = {"commands": [vars(command) for command in commands], "remove": remove or []}
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(os.getpid()), json.dumps(spec)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )
    return Reaper(process, commands)


def _wait_for_exit(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # readable once the process has exited (a zombie counts)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        os.close(fd)
        return
    while True:  # no pidfd: poll, treating a zombie as gone
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rpartition(")")[2].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.5)


def _reap(owner: int, spec: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only its owner's exit (or cancel) ends it
    _wait_for_exit(owner)
    for command in spec["commands"]:
        try:
            subprocess.run(command["argv"], user=command.get("uid"), group=command.get("gid"),
                           cwd=command.get("cwd"),
                           extra_groups=[] if command.get("uid") is not None else None,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError):
            continue  # the next command may still clean up something
    for path in spec["remove"]:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    _reap(int(sys.argv[1]), json.loads(sys.argv[2]))
