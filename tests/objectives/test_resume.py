"""Resume checkpoints: a run cut after a save continues from it, bit for bit on a CPU; a corrupt or
missing checkpoint trains from epoch 0 with one line; a search trial's curve has every epoch once."""

from __future__ import annotations

import optuna
import pytest
import torch
from lightning.pytorch import Callback

from objectives.context import ObjectiveContext
from objectives.data import load_training_data
from objectives.objective import LstmObjective
from objectives.profiles import get_profile, with_max_epochs
from objectives.resume import DirectorySlot
from objectives.search_space import TrialParams
from objectives.spec import TrialSpec
from objectives.training import train_configuration

PROFILE = with_max_epochs(get_profile("quick"), 3)
PARAMS = TrialParams(lam=1.0, dropout=0.3, hidden=16)
DATA = "synthetic:6"


class Cut(Callback):
    """Stops the run at the start of epoch `at`, as a preemption would."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.at:
            raise KeyboardInterrupt("cut")


class TrainLosses(Callback):
    """The epochs trained here and the final weights (dropout and crops make them RNG-sensitive).
    """

    def __init__(self) -> None:
        self.losses: dict[int, None] = {}  # epochs started, in order
        self.weights: dict[str, torch.Tensor] = {}

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.losses[trainer.current_epoch] = None

    def on_train_end(self, trainer, pl_module) -> None:
        self.weights = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    experiment = TrialSpec(data=DATA, profile=PROFILE)
    return load_training_data(experiment, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def uncut(data):
    losses = TrainLosses()
    outcome = train_configuration(data, PARAMS, PROFILE, seed=5, device="cpu",
                                  extra_callbacks=[losses])
    return outcome, losses.weights


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    """The checkpoint a run cut at the start of epoch 2 left (saved after epoch 1)."""
    slot = DirectorySlot(tmp_path_factory.mktemp("slot") / "trial.ckpt", every=1)
    with pytest.raises(KeyboardInterrupt):
        train_configuration(data, PARAMS, PROFILE, seed=5, device="cpu", resume=slot,
                            extra_callbacks=[Cut(2)])
    return slot.read()


@pytest.mark.slow
def test_cut_run_resumes_at_the_saved_epoch_bit_for_bit(data, uncut, saved, tmp_path):
    slot = DirectorySlot(tmp_path / "trial.ckpt", every=1)
    slot.write(saved)
    losses = TrainLosses()
    resumed = train_configuration(data, PARAMS, PROFILE, seed=99, device="cpu", resume=slot,
                                  extra_callbacks=[losses])
    outcome, uncut_weights = uncut
    assert resumed.resumed_at == 2 and resumed.epochs == 3
    assert sorted(losses.losses) == [2]  # only the epoch after the checkpoint was trained
    # The restored random state (dropout, crops, order) repeats the uncut run's epoch exactly,
    # whatever seed the resumed call was given: the final weights are equal bit for bit.
    assert uncut_weights.keys() == losses.weights.keys()
    assert all(torch.equal(uncut_weights[k], losses.weights[k]) for k in uncut_weights)
    assert resumed.val_curve == outcome.val_curve
    assert resumed.test_predictions == outcome.test_predictions
    assert resumed.best_epoch == outcome.best_epoch


def test_saves_every_n_epochs_but_not_after_the_last(data, tmp_path):
    slot = DirectorySlot(tmp_path / "trial.ckpt", every=2)
    outcome = train_configuration(data, PARAMS, PROFILE, seed=5, device="cpu", resume=slot)
    assert len(outcome.checkpoint_saves) == 1  # after epoch 2 of 3; none once training is over
    seconds, size = outcome.checkpoint_saves[0]
    assert seconds > 0 and size == slot.path.stat().st_size
    assert outcome.resumed_at is None
    slot.delete()
    assert slot.read() is None and not list(tmp_path.iterdir())


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_corrupt_checkpoint_restarts_from_epoch_0_with_one_line(data, saved, tmp_path, capfd,
                                                                 damage):
    slot = DirectorySlot(tmp_path / "trial.ckpt", every=5)
    if damage == "truncated":
        slot.write(saved[: len(saved) // 2])
    elif damage == "garbage":
        slot.write(b"\x00not a checkpoint" * 100)
    else:  # a valid torch file that is not a resume checkpoint
        import io

        buffer = io.BytesIO()
        torch.save({"state_dict": {}}, buffer)
        slot.write(buffer.getvalue())
    losses = TrainLosses()
    outcome = train_configuration(data, PARAMS, PROFILE, seed=5, device="cpu", resume=slot,
                                  extra_callbacks=[losses])
    assert outcome.resumed_at is None and sorted(losses.losses) == [0, 1, 2]
    lines = [line for line in capfd.readouterr().err.splitlines() if "resume checkpoint" in line]
    assert len(lines) == 1 and "training starts at epoch 0" in lines[0], lines
    assert str(slot.path) in lines[0]


def test_missing_checkpoint_trains_from_epoch_0_silently(data, tmp_path, capfd):
    slot = DirectorySlot(tmp_path / "absent" / "trial.ckpt", every=5)
    outcome = train_configuration(data, PARAMS, PROFILE, seed=5, device="cpu", resume=slot)
    assert outcome.resumed_at is None and outcome.epochs == 3
    assert "resume checkpoint" not in capfd.readouterr().err


def test_kill_mid_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    slot = DirectorySlot(tmp_path / "trial.ckpt")
    slot.write(b"first")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", fail)  # the write fails before the rename
    with pytest.raises(OSError):
        slot.write(b"second")
    assert slot.read() == b"first" and [p.name for p in tmp_path.iterdir()] == ["trial.ckpt"]


@pytest.mark.slow
def test_resumed_search_trial_reports_every_epoch_once(saved, tmp_path, uncut):
    slot = DirectorySlot(tmp_path / "trial.ckpt", every=1)
    slot.write(saved)
    ctx = ObjectiveContext(spec=TrialSpec(data=DATA, profile=PROFILE),
                           cache_dir=tmp_path / "cache", model_dir=tmp_path / "models",
                           study_name="unit", resume_slot=lambda trial: slot)
    objective = LstmObjective(ctx)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"log10_lambda": 0.0, "dropout": PARAMS.dropout, "hidden": PARAMS.hidden})
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial
    assert trial.user_attrs["resumed_at"] == 2 and trial.user_attrs["epochs"] == 3
    outcome, _ = uncut
    assert [trial.intermediate_values[e] for e in sorted(trial.intermediate_values)] == \
        outcome.val_curve
    assert trial.value == pytest.approx(outcome.val_accuracy)

