"""Local images for the compose test, built without a registry and reused between runs.

The base (debootstrap) and PostgreSQL images come from `docker/build_base_images.sh`. The study
image is built from the repository's Dockerfile out of a staged copy of the build context, with
this machine's CA bundle and a CPU torch wheel from local disk put into the copy's docker/local/;
its tag is a hash of everything that goes into it, so an unchanged tree is never rebuilt.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "recon-lambda-base:bookworm"
POSTGRES_REPO = "recon-lambda-postgres"
STUDY_REPO = "recon-lambda-study"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What the Dockerfile copies (mirrors .dockerignore); docker/local/ is filled in the staged copy.
CONTEXT_FILES = ("Dockerfile", "pyproject.toml", "README.md")
CONTEXT_DIRS = ("objectives", "storage", "study", "docker")


class ImageBuildError(RuntimeError):
    """A build step failed; the message holds the tail of its output."""


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 1200) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise ImageBuildError(f"{' '.join(cmd[:3])} ... failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True,
                          check=False).returncode == 0


def postgres_image_tag() -> str:
    """recon-lambda-postgres:15-<hash of docker/postgres/>, so an edit there rebuilds it."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "docker" / "postgres").iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{POSTGRES_REPO}:15-{digest.hexdigest()[:12]}"


def build_base_images() -> tuple[str, dict[str, float]]:
    """Base and PostgreSQL images (kept when present): the PostgreSQL tag, seconds per stage."""
    postgres = postgres_image_tag()
    env = {**os.environ, "BASE_IMAGE": BASE_IMAGE, "POSTGRES_IMAGE": postgres}
    out = _run(["bash", str(REPO / "docker" / "build_base_images.sh")], env=env)
    timings = {}
    for line in out.splitlines():
        match = re.fullmatch(r"(\w+) ([\d.]+)", line.strip())
        if match:
            timings[match.group(1)] = float(match.group(2))
    _remove_other_tags(POSTGRES_REPO, "15-", keep=postgres)
    return postgres, timings


def _context_paths() -> list[Path]:
    paths = [REPO / name for name in CONTEXT_FILES]
    for name in CONTEXT_DIRS:
        for path in sorted((REPO / name).rglob("*")):
            rel = path.relative_to(REPO)
            if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc" \
                    and rel.parts[:2] != ("docker", "local"):
                paths.append(path)
    return paths


def find_torch_wheel() -> Path | None:
    """A wheel of the torch this test environment runs (the CPU build in CI), on local disk."""
    version = importlib.metadata.version("torch")
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    dirs = [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if d] + ["/opt/wheels"]
    for directory in dirs:
        directory = directory.removeprefix("file://")
        hits = sorted(glob.glob(os.path.join(directory, f"torch-{version}-{tag}-*linux*.whl")))
        if hits:
            return Path(hits[0])
    return None


def study_image_tag(torch_wheel: Path) -> str:
    """recon-lambda-study:test-<hash of the context, the base image id and the torch wheel>."""
    digest = hashlib.sha256()
    for path in _context_paths():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    base_id = _run(["docker", "image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]).strip()
    digest.update(base_id.encode() + torch_wheel.name.encode())
    return f"{STUDY_REPO}:test-{digest.hexdigest()[:16]}"


def build_study_image(torch_wheel: Path, staging: Path) -> tuple[str, float | None]:
    """The study image's tag, and the build's seconds (None when the image already existed)."""
    import time

    tag = study_image_tag(torch_wheel)
    if image_exists(tag):
        return tag, None
    start = time.monotonic()
    for path in _context_paths():
        target = staging / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    local = staging / "docker" / "local"
    (local / "wheels").mkdir(parents=True, exist_ok=True)
    if CA_BUNDLE.exists():
        shutil.copy2(CA_BUNDLE, local / "ca-certificates.crt")
    try:  # the wheel is large: a hard link where the file system allows one
        os.link(torch_wheel, local / "wheels" / torch_wheel.name)
    except OSError:
        shutil.copy2(torch_wheel, local / "wheels" / torch_wheel.name)
    version = importlib.metadata.version("torch").split("+")[0]
    cmd = ["docker", "build", "--network", "host", "--force-rm", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
           "--build-arg", f"TORCH_SPEC=torch=={version}"]
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        value = os.environ.get(name, "")
        if value and "file://" not in value:  # local file indexes do not exist in the build
            cmd += ["--build-arg", f"{name}={value}"]
    _run([*cmd, "-t", tag, str(staging)], timeout=1500)
    _remove_other_tags(STUDY_REPO, "test-", keep=tag)
    return tag, time.monotonic() - start


def _remove_other_tags(repository: str, prefix: str, keep: str) -> None:
    """Earlier test builds' tags (their shared layers stay as the build cache)."""
    out = _run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository])
    old = [tag for tag in out.split() if tag.startswith(f"{repository}:{prefix}") and tag != keep]
    if old:
        subprocess.run(["docker", "image", "rm", *old], capture_output=True, check=False)
