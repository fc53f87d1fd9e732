"""Models in S3 and GCS, against real API servers the tests start: moto's S3 server and
gcp-storage-emulator, each on a free port of 127.0.0.1. The service reaches them the way it
reaches the real clouds, through the clients' own settings (`AWS_ENDPOINT_URL`,
`STORAGE_EMULATOR_HOST`): a worker uploads the models of real trials, another host (another
process, another working directory, no shared directory) fetches and verifies one, a corrupted
object and missing credentials are one line each.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from study import model_store as models
from tests.helpers import one_line_error
from tests.study.conftest import Cli, load

boto3 = pytest.importorskip("boto3")
storage = pytest.importorskip("google.cloud.storage")
moto_server = pytest.importorskip("moto.server")
gcs_emulator = pytest.importorskip("gcp_storage_emulator.server")

SAVES = "tests.study.saving_objective:SavesModels"
BUCKET = "recon-models"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}
# Variables through which a client could find a server or credentials other than the test's.
CLOUD_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
              "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
              "AWS_SHARED_CREDENTIALS_FILE", "STORAGE_EMULATOR_HOST",
              "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One object store's API server, and what a host's environment needs to reach it."""

    def __init__(self, scheme: str, env: dict[str, str], client) -> None:
        self.scheme, self.env, self.client = scheme, env, client
        self.location = f"{scheme}://{BUCKET}"

    def objects(self) -> dict[str, bytes]:
        if self.scheme == "s3":
            listed = self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
            return {o["Key"]: self.client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                    for o in listed}
        return {b.name: b.download_as_bytes() for b in self.client.list_blobs(BUCKET)}

    def put(self, key: str, body: bytes) -> None:
        if self.scheme == "s3":
            self.client.put_object(Bucket=BUCKET, Key=key, Body=body)
        else:
            self.client.bucket(BUCKET).blob(key).upload_from_string(body)

    def without_credentials(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with the server's address but no way for the client to authenticate."""
        base = {k: v for k, v in env.items() if k not in CLOUD_VARS}
        if self.scheme == "s3":  # no keys, no config files, no instance metadata to ask
            return {**base, "AWS_ENDPOINT_URL": self.env["AWS_ENDPOINT_URL"],
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
                    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                    "AWS_EC2_METADATA_DISABLED": "true"}
        # The real service, not the emulator (which needs none): no key file, no gcloud
        # login, and no metadata server to ask.
        return {**base, "CLOUDSDK_CONFIG": "/nonexistent", "NO_GCE_CHECK": "True"}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[Server]:
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", **S3_CREDENTIALS}
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"],
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield Server("s3", env, client)
    server.stop()


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[Server]:
    port = _free_port()
    server = gcs_emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as patch:  # this process's client, for the checks
        patch.setenv("STORAGE_EMULATOR_HOST", host)
        client = storage.Client(project="test")
        client.create_bucket(BUCKET)
    yield Server("gs", {"STORAGE_EMULATOR_HOST": host}, client)
    server.stop()


@pytest.fixture(params=["s3", "gs"])
def server(request: pytest.FixtureRequest) -> Server:
    return request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")


@pytest.mark.slow
def test_models_go_to_the_object_store_and_come_back_verified_on_another_host(
        cli_env: dict[str, str], tmp_path: Path, server: Server) -> None:
    base = {k: v for k, v in cli_env.items() if k not in CLOUD_VARS}
    training = Cli({**base, **server.env, "STUDY_MODEL_DIR": str(tmp_path / "models")},
                   tmp_path / "training-host")
    training.cwd.mkdir()
    url = f"sqlite:///{training.cwd / 'studies.db'}"
    training.run("create", "--storage", url, "--objective", SAVES, "--pruner", "none",
                 "--replicate-seeds", "0", "--n-trials", "5", "--artifacts", server.location)
    training.run("worker", "--storage", url, "--devices", "cpu", "--per-device", "1", "--quiet",
                 timeout=300)
    study = load(url)
    kept = models.kept_models(study)
    assert len(kept) == 3 and {entry.store for entry in kept} == {server.location}
    # Upload: the bucket holds exactly the best 3 models, each as its trial recorded it.
    stored = server.objects()
    assert set(stored) == {entry.artifact_id for entry in kept}
    for entry in kept:
        record = study.trials[entry.trial].user_attrs["model_artifact"]
        body = stored[entry.artifact_id]
        assert (record["sha256"], record["bytes"]) == \
            (hashlib.sha256(body).hexdigest(), len(body))
    # Fetch on another host: its own working directory and model cache, nothing shared with
    # the training host but the database and the bucket; no --artifacts (the study names it).
    other = Cli({**base, **server.env, "STUDY_MODEL_DIR": str(tmp_path / "other-models")},
                tmp_path / "other-host")
    other.cwd.mkdir()
    exported = other.run("export", "--storage", url, module="study.best")
    record = json.loads(exported.stdout)
    best = study.best_trial
    fetched = tmp_path / "other-models" / "recon-lambda" / f"trial_{best.number:05d}.pt"
    uploaded = best.user_attrs["model_artifact"]
    assert (record["model_exists"], exported.stderr) == (True, "")
    assert record["model"] == {"artifact_id": uploaded["id"], "sha256": uploaded["sha256"],
                               "bytes": uploaded["bytes"], "store": server.location,
                               "path": str(fetched)}
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == uploaded["sha256"]
    # A corrupted object (one flipped byte, same key) is refused in one line, and the fetched
    # copy on a third host is not kept.
    body = bytearray(stored[uploaded["id"]])
    body[100] ^= 1
    server.put(uploaded["id"], bytes(body))
    third = Cli({**base, **server.env, "STUDY_MODEL_DIR": str(tmp_path / "third-models")},
                tmp_path / "third-host")
    third.cwd.mkdir()
    one_line_error(third.run("evaluate", "--storage", url, "--data", "synthetic:5",
                             module="study.best", check=False),
                   f"trial {best.number} of study 'recon-lambda'", server.location, "corrupt")
    assert not (tmp_path / "third-models" / "recon-lambda").exists() or \
        not any((tmp_path / "third-models" / "recon-lambda").iterdir())
    # Missing credentials: one line from evaluate and from a worker, before any trial trains.
    bare = Cli(server.without_credentials({**base, "STUDY_MODEL_DIR": str(tmp_path / "m4")}),
               third.cwd)
    one_line_error(bare.run("evaluate", "--storage", url, "--data", "synthetic:5",
                            module="study.best", check=False),
                   f"trial {best.number} of study 'recon-lambda'", "credentials")
    one_line_error(bare.run("worker", "--storage", url, "--n-trials", "6", "--devices", "cpu",
                            "--per-device", "1", check=False),
                   f"artifact store {server.scheme}:// has no", "credentials")
    assert len(load(url).trials) == 5
