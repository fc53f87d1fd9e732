"""Where a trial's resume checkpoint lives (its retry finds its original's), when it is deleted,
and the interval setting."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from storage import RetryStaleTrialOnce, backend_of, trial_id
from study.errors import UserError
from study.resume_checkpoints import ResumeCheckpoints, resume_every


def test_interval_setting() -> None:
    assert resume_every({}) == 4
    assert resume_every({"STUDY_RESUME_EVERY": "0"}) == 0
    assert resume_every({"STUDY_RESUME_EVERY": " 7 "}) == 7
    for bad in ("x", "-1", "1.5"):
        with pytest.raises(UserError, match="STUDY_RESUME_EVERY"):
            resume_every({"STUDY_RESUME_EVERY": bad})


def _study_with_a_retry(tmp_path: Path) -> tuple[optuna.Study, int, int]:
    """A study whose trial 0 failed and was re-queued by the stale-trial retry (trial 1)."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'studies.db'}",
                                study_name="s/one")
    original = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(original, state=optuna.trial.TrialState.FAIL)
    RetryStaleTrialOnce(max_retry=3)(study, study.trials[0])
    retry = study.ask()
    return study, trial_id(original), trial_id(retry)


def test_a_retry_finds_its_originals_checkpoint(tmp_path: Path) -> None:
    study, original, retry = _study_with_a_retry(tmp_path)
    checkpoints = ResumeCheckpoints(str(tmp_path / "store"), every=2)
    slot = checkpoints.slot_of(study, original)
    assert slot.path == tmp_path / "store" / "resume" / slot.path.parent.name / "trial_00000.ckpt"
    assert checkpoints.slot_of(study, retry).path == slot.path
    assert not checkpoints.holds(study, retry)
    slot.write(b"state")
    assert checkpoints.holds(study, retry)
    assert backend_of(study).get_trial(retry).number == 1


def _running(study: optuna.Study) -> optuna.Trial:
    return study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})


@pytest.mark.parametrize(("outcome", "kept"), [("value", False), ("pruned", False),
                                               ("error", False), ("outage", True),
                                               ("interrupt", True)])
def test_deleted_when_the_trial_ends_kept_when_it_is_queued_again(tmp_path: Path, outcome: str,
                                                                   kept: bool) -> None:
    study = optuna.create_study()
    checkpoints = ResumeCheckpoints(f"file://{tmp_path}", every=1)
    trial = _running(study)
    slot = checkpoints.for_trial(trial)
    slot.write(b"state")

    def train() -> float:
        if outcome == "pruned":
            raise optuna.TrialPruned()
        if outcome in ("error", "outage"):
            raise RuntimeError(outcome)
        if outcome == "interrupt":
            raise KeyboardInterrupt
        return 1.0

    if outcome == "value":
        assert checkpoints.run(trial, train, keep=lambda exc: str(exc) == "outage") == 1.0
    else:
        raised = {"pruned": optuna.TrialPruned, "interrupt": KeyboardInterrupt}.get(outcome,
                                                                                    RuntimeError)
        with pytest.raises(raised):
            checkpoints.run(trial, train, keep=lambda exc: str(exc) == "outage")
    assert (slot.read() is not None) == kept


def test_off_means_no_slot(tmp_path: Path) -> None:
    study = optuna.create_study()
    checkpoints = ResumeCheckpoints(str(tmp_path), every=0)
    trial = _running(study)
    assert checkpoints.for_trial(trial) is None
    assert checkpoints.run(trial, lambda: 2.0, keep=lambda exc: False) == 2.0
