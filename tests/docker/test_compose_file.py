"""docker-compose.yml, .env.example and the Dockerfile checked without a Docker daemon: the
compose specification's JSON schema, the service graph, and no credentials in the files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import require_or_skip

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_file_matches_the_compose_specification() -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docker_compose_v1_accepts_the_file(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        require_or_skip("REQUIRE_DOCKER", "docker-compose not on PATH")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "POSTGRES_PASSWORD": "x"}
    proc = subprocess.run(["docker-compose", "-f", str(COMPOSE), "--project-directory",
                           str(tmp_path), "config", "--quiet"], capture_output=True, text=True,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr


def test_services_start_in_order(services: dict) -> None:
    assert set(services) == {"postgres", "create", "worker", "dashboard"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["create"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Workers and the dashboard on an empty database race Optuna's table creation: both wait
    # for the one-shot create to have succeeded.
    for name in ("worker", "dashboard"):
        assert services[name]["depends_on"]["create"]["condition"] == \
            "service_completed_successfully"
    assert services["create"]["restart"] == "no"
    assert "/cache" in " ".join(services["create"]["volumes"])


def test_workers_reserve_every_gpu_and_scale(services: dict) -> None:
    worker = services["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "container_name" not in worker and "ports" not in worker  # `--scale` needs neither
    # Nothing uses shared memory (no DataLoader workers): Docker's default /dev/shm is enough.
    assert "shm_size" not in worker
    command = worker["command"]
    assert "study worker" in command and "--per-device ${PER_DEVICE:-1}" in command


def test_workers_restart_a_bounded_number_of_times(services: dict) -> None:
    # A worker exits 1 on errors that a restart cannot fix, as on a killed trial process:
    # plain `on-failure` would restart it forever.
    match = re.fullmatch(r"on-failure:(\d+)", services["worker"]["restart"])
    assert match and 1 <= int(match.group(1)) <= 5, services["worker"]["restart"]


def test_create_passes_the_replicate_seeds_empty_by_default(services: dict) -> None:
    # Empty: create.sh leaves K to the profile; compose must not invent a default of its own.
    assert services["create"]["environment"]["STUDY_REPLICATE_SEEDS"] == \
        "${STUDY_REPLICATE_SEEDS:-}"
    # Nor a pruner: the service's default is the one copy (it was median here while the service
    # had moved to hyperband).
    assert services["create"]["environment"]["STUDY_PRUNER"] == "${STUDY_PRUNER:-}"


def test_published_ports_default_to_this_host_only(services: dict) -> None:
    for name in ("postgres", "dashboard"):
        for port in services[name]["ports"]:
            assert port.startswith("${") and ":-127.0.0.1}:" in port, port
    assert ":-8080}" in services["dashboard"]["ports"][0]


def test_no_credentials_in_the_compose_file(services: dict) -> None:
    text = COMPOSE.read_text()
    assert not re.search(r"://[^$\s:/]+:[^$\s@]+@", text), "a literal user:password in a URL"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or key == "STUDY_STORAGE":
                assert "${POSTGRES_PASSWORD:?" in str(value), (name, key)


def test_env_example_documents_every_variable_and_holds_no_secret() -> None:
    example = ENV_EXAMPLE.read_text()
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert used <= documented, sorted(used - documented)
    password = re.search(r"^POSTGRES_PASSWORD=(.*)$", example, re.MULTILINE).group(1)
    assert "change-me" in password


def test_dockerfile_takes_its_base_and_torch_as_build_arguments() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+", text, re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", text, re.MULTILINE)
    assert "ARG TORCH_SPEC=torch" in text
