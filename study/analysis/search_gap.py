"""The search phase's best λ = 0 trial against its best λ > 0 trial: selection-biased (the best
single trial of each arm; the larger arm's best tends to win), so the report labels it so and
measures effects from the replicate phase instead (`study.analysis.effects`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from objectives import SearchBounds, effective_lambda


@dataclass(frozen=True)
class ArmBest:
    """The best (highest validation accuracy) COMPLETE trial of one arm."""

    n_trials: int
    trial_number: int | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    lam: float | None = None


@dataclass(frozen=True)
class LambdaEffect:
    baseline: ArmBest  # λ = 0
    with_lambda: ArmBest  # λ > 0

    @property
    def val_gain(self) -> float | None:
        if self.baseline.val_accuracy is None or self.with_lambda.val_accuracy is None:
            return None
        return self.with_lambda.val_accuracy - self.baseline.val_accuracy

    def to_dict(self) -> dict:
        return {"baseline": asdict(self.baseline), "with_lambda": asdict(self.with_lambda),
                "val_gain": self.val_gain}


def _arm_best(trials: Sequence[FrozenTrial], maximize: bool,
              bounds: SearchBounds | None) -> ArmBest:
    if not trials:
        return ArmBest(n_trials=0)
    pick = max if maximize else min
    best = pick(trials, key=lambda t: float(t.value))
    test = best.user_attrs.get("test_accuracy")
    return ArmBest(n_trials=len(trials), trial_number=best.number, val_accuracy=float(best.value),
                   test_accuracy=None if test is None else float(test),
                   lam=effective_lambda(best, bounds))


def lambda_effect(study: optuna.Study, bounds: SearchBounds | None = None) -> LambdaEffect:
    """Best validation accuracy of λ = 0 vs λ > 0 trials, with the test accuracy of each best.

    The test accuracy is that of the best-validation trial of each arm (never the best test
    accuracy, which would select on the test set). `bounds` (the study's search bounds) decode λ
    for trials without the `lambda` user attribute.
    """
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    lams = [(t, effective_lambda(t, bounds)) for t in trials]
    maximize = study.direction == StudyDirection.MAXIMIZE
    return LambdaEffect(
        baseline=_arm_best([t for t, lam in lams if lam == 0.0], maximize, bounds),
        with_lambda=_arm_best([t for t, lam in lams if lam is not None and lam > 0.0], maximize,
                              bounds))
