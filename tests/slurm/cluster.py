"""A throwaway one-node SLURM cluster for tests: munged, slurmctld and slurmd in a temp dir.

The test writes its own `slurm.conf` (one node with two fake GPUs, no cgroups, no accounting,
`KillWait=5`), starts each daemon in the foreground as a child with its own pid, log and socket
files, and stops them by those pids. Client commands (`sbatch`, `squeue`, `scancel`) find the
cluster through `SLURM_CONF` in `env`. `stop()` cancels every job first, waits until none is
left, stops the daemons, then kills by pid any process still carrying this cluster's
`SLURM_CONF` (a job step the daemons left behind).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests import reaper
from tests.helpers import free_port, require_or_skip, wait_for

NODE = "rlsnode"
CPUS = 2
GPUS = 2  # "GPUs" without device files: SLURM schedules them, no process can use one
KILL_WAIT_S = 5  # SIGTERM, then SIGKILL this much later (SLURM's default is 30 s)
DAEMONS = ("munged", "slurmctld", "slurmd")


def require_slurm() -> None:
    """Skip (fail with REQUIRE_SLURM=1) unless root and the SLURM and munge daemons exist."""
    missing = [name for name in (*DAEMONS, "mungekey", "sbatch", "squeue", "scancel")
               if shutil.which(name) is None]
    if missing:
        require_or_skip("REQUIRE_SLURM", f"not installed: {', '.join(missing)} "
                        "(apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        require_or_skip("REQUIRE_SLURM", "the test cluster runs its daemons as root")


def _conf(root: Path, ctld_port: int, slurmd_port: int) -> str:
    # No cgroups (proctrack/linuxproc, task/none) and no accounting: nothing outside the temp
    # dir is needed or touched. `config_overrides` keeps the node up when the machine has other
    # hardware than declared.
    return f"""\
ClusterName=rls{secrets.token_hex(3)}
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root / "munge.socket"}
CredType=cred/munge
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait={KILL_WAIT_S}
MinJobAge=600
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName={NODE} NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1 CPUs={CPUS} \
Gres=gpu:{GPUS} State=UNKNOWN
PartitionName=test Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """munged + slurmctld + slurmd in a temp dir; `env` is what client commands need."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="slurmtest-"))
        self.conf = self.root / "slurm.conf"
        self.daemons: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        # Should this process die without cleanup(): kill every process whose environment names
        # this slurm.conf (the daemons, which get `env`, and what they started), delete the dir.
        kill_by_conf = (f'for f in /proc/[0-9]*/environ; do p=${{f#/proc/}}; '
                        f'grep -qazxF "SLURM_CONF={self.conf}" "$f" 2>/dev/null '
                        f'&& kill -KILL "${{p%/environ}}"; done; true')
        self._reaper = reaper.watch([reaper.Command(["sh", "-c", kill_by_conf])],
                                    remove=[str(self.root)])

    def start(self) -> None:
        for sub in ("state", "spool"):
            (self.root / sub).mkdir()
        self.conf.write_text(_conf(self.root, free_port(), free_port()))
        # SLURM counts a GPU per device file; these two stand in for /dev/nvidia0 and 1.
        (self.root / "gres.conf").write_text("".join(
            f"NodeName={NODE} Name=gpu File={device}\n" for device in ("/dev/null", "/dev/zero")))
        key = self.root / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True,
                       capture_output=True, timeout=30)
        key.chmod(0o400)
        self._daemon("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                                f"--socket={self.root / 'munge.socket'}",
                                f"--pid-file={self.root / 'munged.pid'}",
                                f"--log-file={self.root / 'munged.log'}",
                                f"--seed-file={self.root / 'munged.seed'}"])
        wait_for(lambda: (self.root / "munge.socket").exists(), "munged's socket", timeout=30)
        self._daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._daemon("slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(self.conf)])
        wait_for(self._node_idle, "the node to be idle", timeout=60)

    def _daemon(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")  # noqa: SIM115 - the daemon keeps it open
        self.daemons[name] = subprocess.Popen(argv, env=self.env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _node_idle(self) -> bool:
        for name, proc in self.daemons.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited {proc.returncode}:\n{self.logs()}")
        state = self.run("sinfo", "-h", "-n", NODE, "-o", "%t", check=False).stdout.strip()
        return state == "idle"

    def run(self, *argv: str, check: bool = True, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """A client command; `env` replaces this process's environment (sbatch hands it to
        the job), plus SLURM_CONF."""
        env = {**(os.environ if env is None else env), "SLURM_CONF": str(self.conf)}
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stderr}")
        return proc

    def sbatch(self, *argv: str, env: dict[str, str] | None = None) -> str:
        """Submit; the job id (`--parsable`)."""
        return self.run("sbatch", "--parsable", *argv, env=env).stdout.strip().split(";")[0]

    def jobs(self) -> list[tuple[str, str]]:
        """(job id, state) of every job squeue lists (array tasks as JOB_TASK)."""
        out = self.run("squeue", "-h", "-r", "-o", "%i %T").stdout
        return [tuple(line.split()) for line in out.splitlines() if line.strip()]

    def job_state(self, job: str) -> str:
        out = self.run("scontrol", "show", "job", job, check=False).stdout
        for field in out.split():
            if field.startswith("JobState="):
                return field.partition("=")[2]
        return "GONE"

    def logs(self) -> str:
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log", *(f"{d}.out" for d in DAEMONS)):
            path = self.root / name
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-15:]
                parts.append(f"--- {name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, wait for squeue to empty, stop the daemons, kill stragglers."""
        try:
            if self.daemons.get("slurmctld") and self.daemons["slurmctld"].poll() is None:
                self.run("scancel", "--full", "--partition=test", check=False)
                with contextlib.suppress(AssertionError, subprocess.SubprocessError):
                    wait_for(lambda: not self.jobs(), "squeue to empty", timeout=KILL_WAIT_S * 4)
        finally:
            for name in reversed(DAEMONS):
                proc = self.daemons.get(name)
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=15)
            for pid in self.stragglers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stragglers(self) -> list[int]:
        """Pids of processes whose environment names this cluster's slurm.conf."""
        marker = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self._reaper.cancel()


def wait_gone(cluster: SlurmCluster, timeout: float = 60) -> None:
    """Until squeue lists nothing."""
    deadline = time.monotonic() + timeout
    while cluster.jobs():
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs left in squeue: {cluster.jobs()}")
        time.sleep(0.5)
