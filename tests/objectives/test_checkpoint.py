"""Saving a model where it cannot be written: a full disk, a path below a file. One clear error,
no temporary file left, and no handle left open on a deleted file (its space would stay used)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from objectives.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from objectives.model import ReconBiLSTM
from objectives.profiles import get_profile
from objectives.search_space import TrialParams
from tests.full_disk import tiny_filesystem
from tests.helpers import cli_error
from tests.study.conftest import CLEARED, REPO

QUICK = get_profile("quick")
PARAMS = TrialParams(lam=0.0, dropout=0.1, hidden=64)  # about 1.4 MB saved: more than the tmpfs


def save(path: Path) -> Path:
    torch.manual_seed(0)
    model = ReconBiLSTM(QUICK.features.n_mels, 3, PARAMS.hidden, PARAMS.dropout)
    return save_checkpoint(path, model, classes=("a", "b", "c"), params=PARAMS, profile=QUICK,
                           outcome=SimpleNamespace(val_accuracy=0.5, test_accuracy=0.4))


def open_files_under(directory: Path) -> list[str]:
    """What this process holds open below `directory` (deleted files included)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed meanwhile
            continue
        if target.startswith(str(directory)):
            held.append(target)
    return held


@pytest.fixture
def full(tmp_path: Path) -> Iterator[Path]:
    with tiny_filesystem(tmp_path / "full") as directory:
        yield directory


def test_round_trip(tmp_path: Path) -> None:
    path = save(tmp_path / "models" / "m.pt")
    model, meta = load_checkpoint(path)
    torch.manual_seed(0)
    saved = ReconBiLSTM(QUICK.features.n_mels, 3, PARAMS.hidden, PARAMS.dropout).state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert meta["params"] == PARAMS and meta["classes"] == ["a", "b", "c"]
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary file left


def test_full_disk_is_one_clear_error_and_frees_its_space(full: Path) -> None:
    free_before = os.statvfs(full).f_bfree
    with pytest.raises(CheckpointError) as caught:
        save(full / "study" / "m.pt")
    # The worker keeps its last error (and so the traceback) alive: that must not keep the file.
    message = str(caught.value)
    assert message.startswith(f"cannot save the model {full}/study/m.pt: no space left on "
                              f"{full}/study (it needs "), message
    assert "free some space there" in message and "unexpected pos" not in message
    assert open_files_under(full) == []
    assert os.listdir(full / "study") == []
    assert os.statvfs(full).f_bfree == free_before


def test_path_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(CheckpointError) as caught:
        save(tmp_path / "file.txt" / "m.pt")
    assert str(caught.value) == (f"cannot save the model {tmp_path}/file.txt/m.pt: "
                                 f"{tmp_path}/file.txt is a file, not a directory; save models "
                                 "to a writable directory")


def test_read_only_directory(tmp_path: Path) -> None:
    # Tests run as root, which ignores permission bits: a read-only mount refuses everyone.
    with tiny_filesystem(tmp_path / "ro") as directory:
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        with pytest.raises(CheckpointError) as caught:
            save(directory / "m.pt")
    assert str(caught.value) == (f"cannot save the model {directory}/m.pt: Read-only file "
                                 "system; save models to a writable directory")


@pytest.mark.slow
def test_train_save_on_a_full_disk(full: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(PYTHONPATH=str(REPO), STUDY_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "objectives.train", "--data", "synthetic:5",
                           "--epochs", "1", "--save", str(full / "m.pt")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    err = cli_error(proc)  # exit 1, no traceback
    # The feature cache reports its progress on stderr first; the error is the last line.
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot save the model {full}/m.pt: no space left on {full} "
                           "(it needs "), last
    assert "unexpected pos" not in err and proc.stdout == ""
    assert os.listdir(full) == []
