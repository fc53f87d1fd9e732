"""docker-compose.yml brought up for real: PostgreSQL → create → 2 worker containers → dashboard.

The workers serve both phases with no further command: the search (6 trials), then the replicates
that the first worker to finish the search plans (2 seeds per arm, in `NAME-replicates`).

Images are built locally (tests/docker/images.py). Compose runs a file derived from the real
docker-compose.yml: host networking for every service (the CI daemon has no bridge), no build
sections, no GPU reservation; synthetic data, the quick profile and a tiny budget come through the
same variables a user sets in .env. Debian's docker-compose is v1: `up -d`, then poll.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.docker import images
from tests.helpers import free_port, require_or_skip

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = images.REPO
N_TRIALS = 6
MAX_EPOCHS = 2
REPLICATE_SEEDS = 2  # the quick profile's 3 would only make the test longer
DATA = "synthetic:20"  # 20 clips per class: the one-shot feature preparation stays short
STUDY_NAME = "compose-test"
FINISH_TIMEOUT_S = 600  # both phases
# Optuna's log lines of finished trials; a worker's search trials come before its first
# "replicates:" line, its replicate runs after it.
SEARCH_LOG = re.compile(r"Trial (\d+) (?:pruned|finished with value: .* and parameters: \{')")
REPLICATE_LOG = re.compile(r"Trial (\d+) finished with value: .* and parameters: \{'")
# The planner's own lines (one worker plans each round), not the progress lines every worker prints.
PLANNED_LOG = re.compile(r"replicates: (?:planned (\d+) runs \([^)]*\) of trial|round \d+: planned "
                         r"(\d+) runs)")


def _phases(log: str) -> tuple[str, str]:
    """A worker container's log: (its search phase, its replicate phase)."""
    at = log.find("replicates:")
    return (log, "") if at < 0 else (log[:at], log[at:])
DAEMON_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH",
              "DOCKER_TLS_VERIFY")


def derive_compose_file(source: Path, target: Path) -> dict:
    """The real compose file with host networking, no published ports, builds or GPU reservation."""
    config = yaml.safe_load(source.read_text())
    for service in config["services"].values():
        service["network_mode"] = "host"
        for key in ("ports", "build", "deploy"):
            service.pop(key, None)
    config = {key: value for key, value in config.items() if not key.startswith("x-")}
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def env_example_names() -> list[str]:
    text = (REPO / ".env.example").read_text()
    return re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


class Stack:
    """docker-compose v1 on the derived file, under a project name of its own."""

    def __init__(self, directory: Path, project: str, variables: dict[str, str]) -> None:
        self.file = directory / "docker-compose.yml"
        self.project = project
        # Every compose variable is set explicitly and the caller's shell passes on only what
        # reaches the Docker daemon, so nothing leaks in from the shell or a .env.
        self.env = {name: os.environ[name] for name in DAEMON_ENV if name in os.environ}
        self.env.update(variables)

    def compose(self, *args: str, timeout: float = 300, check: bool = True
                ) -> subprocess.CompletedProcess:
        cmd = ["docker-compose", "--ansi", "never", "-p", self.project, "-f", str(self.file),
               "--project-directory", str(self.file.parent), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed (exit "
                                 f"{proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}\n{self.logs()}")
        return proc

    def containers(self, service: str | None = None) -> list[str]:
        cmd = ["docker", "ps", "-aq", "--no-trunc", "--filter",
               f"label=com.docker.compose.project={self.project}"]
        if service:
            cmd += ["--filter", f"label=com.docker.compose.service={service}"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()

    def volumes(self) -> list[str]:
        return subprocess.run(["docker", "volume", "ls", "-q", "--filter",
                               f"label=com.docker.compose.project={self.project}"],
                              capture_output=True, text=True, check=True).stdout.split()

    @staticmethod
    def state(container: str) -> dict:
        out = subprocess.run(["docker", "inspect", "--format", "{{json .State}}", container],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    @staticmethod
    def container_log(container: str) -> str:
        proc = subprocess.run(["docker", "logs", container], capture_output=True, text=True,
                              check=False)
        return proc.stdout + proc.stderr

    def logs(self, tail: int = 40) -> str:
        proc = subprocess.run(["docker-compose", "--ansi", "never", "-p", self.project, "-f",
                               str(self.file), "--project-directory", str(self.file.parent),
                               "logs", "--tail", str(tail)], capture_output=True, text=True,
                              env=self.env, check=False)
        return proc.stdout[-8000:]


def _phase_seconds(trials: list) -> float:
    """From the first trial's start to the last one's end (one storage, one clock)."""
    start = min(t.datetime_start for t in trials)
    return round((max(t.datetime_complete for t in trials) - start).total_seconds(), 1)


def _seconds_between(state: dict) -> float:
    """How long a container ran, from its State's StartedAt and FinishedAt (RFC 3339, ns)."""
    from datetime import datetime

    def parse(stamp: str) -> datetime:
        head, _, frac = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}")

    return (parse(state["FinishedAt"]) - parse(state["StartedAt"])).total_seconds()


@pytest.mark.timeout(1500)
def test_compose_stack_runs_a_study_end_to_end(docker_daemon, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    import optuna
    from optuna.trial import TrialState

    timings: dict[str, float] = {}
    if not images.image_exists(images.BASE_IMAGE) and shutil.which("debootstrap") is None:
        require_or_skip("REQUIRE_DOCKER",
                        "debootstrap is not on PATH and the base image is not built")
    torch_wheel = images.find_torch_wheel()
    if torch_wheel is None:
        require_or_skip("REQUIRE_DOCKER", "no local wheel of this environment's torch (looked "
                        "in PIP_FIND_LINKS and /opt/wheels)")

    # --- images (each stage runs only when its image is missing) ---
    postgres_image, built = images.build_base_images()
    timings.update(built)
    staging = tmp_path / "context"
    staging.mkdir()
    study_image, seconds = images.build_study_image(torch_wheel, staging)
    if seconds is not None:
        timings["study_image"] = round(seconds, 1)
    shutil.rmtree(staging)

    # --- the derived compose file and the variables a user would put in .env ---
    project_dir = tmp_path / "compose"
    project_dir.mkdir()
    derive_compose_file(REPO / "docker-compose.yml", project_dir / "docker-compose.yml")
    pg_port, dash_port = free_port(), free_port()
    password = secrets.token_hex(12)
    variables = {name: "" for name in env_example_names()}
    variables.update({
        "POSTGRES_USER": "study", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "optuna",
        "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(pg_port),
        "POSTGRES_IMAGE": postgres_image, "STUDY_IMAGE": study_image,
        "STUDY_NAME": STUDY_NAME, "STUDY_DATA": DATA, "STUDY_PROFILE": "quick",
        "STUDY_N_TRIALS": str(N_TRIALS), "STUDY_MAX_EPOCHS": str(MAX_EPOCHS),
        "STUDY_REPLICATE_SEEDS": str(REPLICATE_SEEDS),
        "STUDY_PRUNER": "median", "STUDY_OBJECTIVE": "lstm",
        "STUDY_CREATE_ARGS": f"--max-seeds {REPLICATE_SEEDS}",  # one round of seeds
        "STUDY_DEVICES": "cpu", "PER_DEVICE": "1", "WORKER_ARGS": "--threads 1",
        "DASHBOARD_LISTEN": "127.0.0.1", "DASHBOARD_PORT": str(dash_port),
    })
    stack = Stack(project_dir, f"reconlambdatest{os.getpid()}", variables)
    url = f"postgresql+psycopg://study:{password}@127.0.0.1:{pg_port}/optuna"

    try:
        # --- up: v1 waits for postgres healthy and create completed before starting the rest ---
        start = time.monotonic()
        stack.compose("up", "-d", "--scale", "worker=2", timeout=900)
        timings["up"] = round(time.monotonic() - start, 1)
        workers = stack.containers("worker")
        assert len(workers) == 2, stack.logs()
        create = stack.containers("create")
        assert create and stack.state(create[0])["ExitCode"] == 0, stack.logs()
        timings["create"] = round(_seconds_between(stack.state(create[0])), 1)

        # --- poll until both workers have exited (search and replicates done) ---
        start = time.monotonic()
        while time.monotonic() - start < FINISH_TIMEOUT_S:
            states = [stack.state(c) for c in workers]
            if all(not s["Running"] and not s["Restarting"] for s in states):
                break
            time.sleep(3)
        else:
            pytest.fail(f"workers still running after {FINISH_TIMEOUT_S} s:\n{stack.logs()}")
        timings["study"] = round(time.monotonic() - start, 1)
        codes = [stack.state(c)["ExitCode"] for c in workers]
        assert codes == [0, 0], f"worker exit codes {codes}:\n{stack.logs(80)}"
        # Each worker container from start to exit: start-up, both phases, waits between.
        timings["worker_containers"] = round(max(_seconds_between(stack.state(c))
                                              for c in workers), 1)

        study = optuna.load_study(study_name=STUDY_NAME, storage=url)
        trials = study.get_trials(deepcopy=False)
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(finished) == N_TRIALS, [(t.number, t.state) for t in trials]
        assert not [t for t in trials if t.state == TrialState.RUNNING]

        timings["search_phase"] = _phase_seconds(finished)

        # Search trials from both worker containers: their logs, and the worker id each trial
        # records.
        logs = {c[:12]: stack.container_log(c) for c in workers}
        per_container = {c: {int(n) for n in SEARCH_LOG.findall(_phases(log)[0])}
                         for c, log in logs.items()}
        assert all(per_container.values()), f"a worker container ran no trial: {per_container}"
        assert set().union(*per_container.values()) == {t.number for t in finished}
        recorded = {str(t.user_attrs.get("worker", "")) for t in finished}
        # The worker id carries the container id (STUDY_WORKER_ID, set by the entry point).
        tagged = {c for c in per_container if any(c in ident for ident in recorded)}
        assert tagged == set(per_container), recorded

        # --- phase 2: planned once, every planned (arm, seed) COMPLETE exactly once ---
        companion = optuna.load_study(study_name=f"{STUDY_NAME}-replicates", storage=url)
        plan = companion.user_attrs["plan"]
        seeds = plan["rounds"][-1]["seeds"]  # every arm's seeds after the last round
        expected = sorted((arm["key"], k) for arm in plan["arms"]
                          for k in range(seeds[arm["key"]]))
        assert plan["seeds"] == REPLICATE_SEEDS, plan
        assert companion.user_attrs["n_planned"] == len(expected) >= 2 * REPLICATE_SEEDS
        replicate_trials = companion.get_trials(deepcopy=False)
        assert [t.state for t in replicate_trials] == [TrialState.COMPLETE] * len(expected), \
            [(t.number, t.state) for t in replicate_trials]
        assert sorted((t.user_attrs["arm"], t.user_attrs["seed"])
                      for t in replicate_trials) == expected
        assert all(t.user_attrs["plan"] == plan["source_trial"] for t in replicate_trials)
        planners = {c: ["".join(m) for m in PLANNED_LOG.findall(log)] for c, log in logs.items()}
        assert sorted(n for found in planners.values() for n in found) == [str(len(expected))], \
            f"the replicates were not planned exactly once: {planners}"  # one round (--max-seeds)
        # Served by the worker containers, as their logs say.
        served = {c: {int(n) for n in REPLICATE_LOG.findall(_phases(log)[1])}
                  for c, log in logs.items()}
        assert set().union(*served.values()) == {t.number for t in replicate_trials}, served
        for trial in replicate_trials:
            assert any(c in str(trial.user_attrs.get("worker")) for c in logs), trial.user_attrs
        timings["replicate_phase"] = _phase_seconds(replicate_trials)
        timings["replicates_per_container"] = {c: len(n) for c, n in served.items()}

        # --- the dashboard is healthy, answers, and its API lists the study ---
        dashboard = stack.containers("dashboard")
        assert stack.state(dashboard[0]).get("Health", {}).get("Status") == "healthy"
        with urllib.request.urlopen(f"http://127.0.0.1:{dash_port}/api/studies",
                                    timeout=30) as response:
            listed = json.load(response)
        names = [s["study_name"] for s in listed["study_summaries"]]
        assert {STUDY_NAME, f"{STUDY_NAME}-replicates"} <= set(names), listed

        # --- `python -m study.best export` in the image, against the compose PostgreSQL ---
        start = time.monotonic()
        proc = stack.compose("run", "--rm", "--no-deps", "-T", "create", "python", "-m",
                             "study.best", "export", timeout=180)
        timings["export"] = round(time.monotonic() - start, 1)
        exported = json.loads(proc.stdout)
        best = [t.number for t in finished if t.value == study.best_value]
        statistics = exported["replicates"]
        assert statistics is not None and statistics["source_trial"] in best, exported
        assert statistics["source_trial"] == plan["source_trial"]
        assert statistics["finished"] == statistics["planned"] == len(expected), statistics
        assert statistics["seeds_planned"] == REPLICATE_SEEDS
        # The winner is handed over with the model of one of its replicate runs, fetched from
        # the shared artifact volume into STUDY_MODEL_DIR, its digest checked.
        assert exported["use"]["arm"] == statistics["winner"]["arm"], exported["use"]
        assert exported["model_from"].startswith(f"{STUDY_NAME}-replicates trial"), exported
        assert str(exported["model_path"]).startswith("/models/"), exported
        assert exported["model"]["store"] == "/artifacts" and exported["model_error"] is None
        assert password not in proc.stdout + proc.stderr
    finally:
        # --- down -v leaves nothing behind ---
        start = time.monotonic()
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "20", timeout=300,
                      check=False)
        timings["down"] = round(time.monotonic() - start, 1)
        with capsys.disabled():
            print(f"\ncompose test stage seconds: {json.dumps(timings)}", file=sys.stderr)
    assert stack.containers() == [], "containers left after down -v"
    assert stack.volumes() == [], "volumes left after down -v"
