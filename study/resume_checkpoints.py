"""Where a running trial's resume checkpoint lives, and when it goes away.

A resume checkpoint (`objectives.resume`: the whole training state, saved every few epochs) is
not the trial's saved model (`study.model_store`). It lives next to the models, in the study's
artifact store: `ARTIFACTS/resume/STUDY/trial_NNNNN.ckpt` for a directory (shared across hosts
when the directory is), the artifact id `resume-STUDY-trial_NNNNN` in an S3 or GCS bucket.

NNNNN is the trial's series: the number of the first trial of its retries (Optuna's
`retry_history`), so the retry that the stale-trial callback (or an interrupted worker) queues
finds its original's checkpoint on any host. The checkpoint is deleted when the trial ends
(complete, pruned, failed); an interrupt (SIGTERM, Ctrl-C) or a lost database keeps it, since the
trial is queued again, and the retry resumes from it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from optuna.trial import FrozenTrial

from objectives.resume_slot import DEFAULT_EVERY, DirectorySlot  # the service provides the slot
from storage import backend_of, retried_from, trial_id
from study.artifact_store import artifact_dir, open_artifact_store
from study.defaults import RESUME_EVERY_ENV
from study.errors import UserError
from study.service import name_on_disk

T = TypeVar("T")


def resume_every(environ: Any = None) -> int:
    """$STUDY_RESUME_EVERY, else the default chosen from the benchmark (objectives.resume_slot)."""
    value = (os.environ if environ is None else environ).get(RESUME_EVERY_ENV, "").strip()
    if not value:
        return DEFAULT_EVERY
    try:
        every = int(value)
    except ValueError:
        raise UserError(f"{RESUME_EVERY_ENV}={value!r} is not a whole number of epochs") \
            from None
    if every < 0:
        raise UserError(f"{RESUME_EVERY_ENV} must be 0 (off) or more epochs, not {every}")
    return every


class _StoreSlot:
    """A resume checkpoint as one object of a bucket store (a put replaces it whole)."""

    def __init__(self, store: Any, artifact_id: str, every: int) -> None:
        self.store, self.artifact_id, self.every = store, artifact_id, every

    def read(self) -> bytes | None:
        from optuna.artifacts.exceptions import ArtifactNotFound

        try:
            with self.store.open_reader(self.artifact_id) as reader:
                return reader.read()
        except ArtifactNotFound:
            return None

    def write(self, data: bytes) -> None:
        self.store.write(self.artifact_id, io.BytesIO(data))

    def delete(self) -> None:
        from optuna.artifacts.exceptions import ArtifactNotFound

        try:
            self.store.remove(self.artifact_id)
        except ArtifactNotFound:
            pass

    def describe(self) -> str:
        return self.artifact_id


class ResumeCheckpoints:
    """One worker's resume checkpoints, in the artifact store at `location`."""

    def __init__(self, location: str, every: int) -> None:
        self.location, self.every = location, every
        self._store: Any = None
        self._handed: set[int] = set()  # trials (storage ids) whose objective asked for a slot

    def series(self, trial: FrozenTrial) -> int:
        """The number whose checkpoint `trial` resumes from: its first original's, or its own."""
        first = retried_from(trial)
        return trial.number if first is None else first

    def slot(self, study_name: str, series: int) -> Any:
        name = f"trial_{series:05d}.ckpt"
        directory = artifact_dir(self.location)
        if directory is not None:
            return DirectorySlot(directory / "resume" / name_on_disk(study_name) / name,
                                 every=self.every)
        self._store = self._store or open_artifact_store(self.location)
        return _StoreSlot(self._store, f"resume-{name_on_disk(study_name)}-{name}", self.every)

    def slot_of(self, study: optuna.Study, storage_id: int) -> Any:
        return self.slot(study.study_name, self.series(backend_of(study).get_trial(storage_id)))

    def for_trial(self, trial: optuna.Trial) -> Any:
        """The slot of a running trial (what the objective's `resume_slot` answers); None when
        resume checkpoints are off."""
        if self.every <= 0:
            return None
        self._handed.add(trial_id(trial))
        return self.slot_of(trial.study, trial_id(trial))

    def holds(self, study: optuna.Study, storage_id: int) -> bool:
        """A resume checkpoint was saved for this trial (so re-queueing it saves epochs)."""
        if self.every <= 0:
            return False
        try:
            return self.slot_of(study, storage_id).read() is not None
        except OSError:
            return False

    def run(self, trial: optuna.Trial, call: Callable[[], T],
            keep: Callable[[BaseException], bool]) -> T:
        """`call()`; the trial's checkpoint is deleted when it ends, unless the exception is an
        interrupt or one `keep` names (a lost database: the trial is queued again)."""
        try:
            result = call()
        except Exception as exc:
            if not keep(exc):
                self._delete(trial)
            raise
        self._delete(trial)
        return result

    def _delete(self, trial: optuna.Trial) -> None:
        # Only where the objective asked for a slot: an objective that saves no resume
        # checkpoints (the mock) costs no storage read per trial.
        if trial_id(trial) in self._handed:
            self._handed.discard(trial_id(trial))
            self.slot_of(trial.study, trial_id(trial)).delete()
