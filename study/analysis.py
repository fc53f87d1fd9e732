"""How much λ matters in the search phase: parameter importances, and the best λ = 0 trial
against the best λ > 0 trial (selection-biased: the report labels it so; effects come from the
replicate phase, `study.effects`).

Pure functions over a study's trials; nothing here trains, plots or writes files.
`param_importance` rests on COMPLETE trials only (Optuna ignores pruned ones);
`importance_all_trials` rests on every finished trial's validation accuracy at one common epoch,
pruned ones included. Every result says which trials and how many it rests on.
λ is decoded by `objectives.search_space.effective_lambda` alone (re-exported here); functions
that need it take the study's search bounds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import optuna
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from objectives.profiles import SearchBounds
from objectives.search_space import LAMBDA_PARAM, effective_lambda

EVALUATORS = ("fanova", "ped-anova")
_LABELS = {"fanova": "fANOVA", "ped-anova": "PED-ANOVA"}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class ImportanceResult:
    evaluator: str  # "fanova" or "ped-anova"
    importances: dict[str, float]  # normalized, most important first
    n_trials: int  # trials the result rests on
    param: str = LAMBDA_PARAM
    # None: COMPLETE trials' objective values. An epoch: every finished trial's (pruned ones
    # included) validation accuracy reported at that epoch.
    epoch: int | None = None
    n_skipped: int = 0  # finished trials left out: no value reported at `epoch`

    @property
    def rank(self) -> int | None:
        """1-based rank of λ among the searched parameters (None if λ was not searched)."""
        names = list(self.importances)
        return names.index(self.param) + 1 if self.param in names else None

    @property
    def share(self) -> float | None:
        return self.importances.get(self.param)

    @property
    def label(self) -> str:
        """E.g. "fANOVA (60 complete trials)", "fANOVA (66 finished trials at epoch 2)"."""
        name = _LABELS.get(self.evaluator, self.evaluator)
        if self.epoch is None:
            return f"{name} ({self.n_trials} complete trials)"
        skipped = f", {self.n_skipped} skipped" if self.n_skipped else ""
        return f"{name} ({self.n_trials} finished trials at epoch {self.epoch}{skipped})"

    def to_dict(self) -> dict:
        return {"evaluator": self.evaluator, "importances": self.importances,
                "n_trials": self.n_trials, "lambda_rank": self.rank, "lambda_share": self.share,
                "epoch": self.epoch, "n_skipped": self.n_skipped}


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _ped_anova_target(study: optuna.Study) -> Callable[[FrozenTrial], float]:
    # PED-ANOVA ranks low targets as good once a target is given: negate for a maximized study.
    if study.direction == StudyDirection.MAXIMIZE:
        return lambda t: -float(t.value)
    return lambda t: float(t.value)


def param_importance(study: optuna.Study, evaluator: str = "fanova", *,
                     seed: int = 0) -> ImportanceResult:
    """Importances of all searched parameters with one evaluator, over COMPLETE trials.

    fANOVA is seeded (it is random otherwise); PED-ANOVA keeps Optuna's defaults (the same
    ones optuna-dashboard uses), with the target negated for a maximized study.
    Raises ValueError when fewer than two trials are complete.
    """
    n = len(complete_trials(study))
    if n < 2:
        raise ValueError(f"importances need at least 2 complete trials; the study has {n}")
    if evaluator == "fanova":
        result = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    elif evaluator == "ped-anova":
        with warnings.catch_warnings():
            # Optuna warns whenever a target is given; ours is negated on purpose.
            warnings.filterwarnings("ignore", message=".*computes the importances of params.*")
            warnings.filterwarnings("ignore", message=".*quantiles select the same set.*")
            result = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(),
                                           target=_ped_anova_target(study))
    else:
        raise ValueError(f"unknown evaluator {evaluator!r}; choose one of: {', '.join(EVALUATORS)}")
    ordered = dict(sorted(((k, float(v)) for k, v in result.items()), key=lambda kv: -kv[1]))
    return ImportanceResult(evaluator=evaluator, importances=ordered, n_trials=n)


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """COMPLETE and PRUNED trials: every trial that trained and reported."""
    return study.get_trials(deepcopy=False, states=FINISHED)


def common_epoch(trials: Sequence[FrozenTrial]) -> int | None:
    """The latest epoch every trial reported an intermediate value for (None if there is none)."""
    steps = [set(t.intermediate_values) for t in trials]
    shared = set.intersection(*steps) if steps else set()
    return max(shared) if shared else None


def importance_all_trials(study: optuna.Study, *, epoch: int | None = None, seed: int = 0,
                          evaluator: str = "fanova") -> ImportanceResult:
    """Importances over ALL finished trials, pruned ones included, each judged by the
    validation accuracy it reported at one common epoch.

    `epoch` defaults to the latest epoch that every finished trial reported; with an explicit
    epoch, trials that never reached it are skipped and counted in `n_skipped` (as are trials
    whose value there is not finite). The values go into an in-memory study (Optuna's public
    `create_trial` / `add_trials`) and are evaluated like `param_importance` (fANOVA seeded by
    default). Raises ValueError when fewer than two trials have a value at the epoch.
    """
    finished = finished_trials(study)
    if epoch is None:
        epoch = common_epoch(finished)
        if epoch is None:
            raise ValueError(f"the study's {len(finished)} finished trials share no reported "
                             "epoch; pass an epoch to use the trials that reached it")
    # a diverged trial may have reported nan: skipped (and counted) like one that never got there
    usable = [t for t in finished if math.isfinite(t.intermediate_values.get(epoch, math.nan))]
    if len(usable) < 2:
        raise ValueError(f"importances need at least 2 finished trials with a value at epoch "
                         f"{epoch}; the study has {len(usable)}")
    proxy = _in_memory_study(study.direction)
    proxy.add_trials([optuna.trial.create_trial(
        params=t.params, distributions=t.distributions,
        value=float(t.intermediate_values[epoch])) for t in usable])
    result = param_importance(proxy, evaluator, seed=seed)
    return ImportanceResult(evaluator=evaluator, importances=result.importances,
                            n_trials=len(usable), epoch=epoch,
                            n_skipped=len(finished) - len(usable))


def _in_memory_study(direction: StudyDirection) -> optuna.Study:
    # create_study logs "A new study created in memory" at INFO: not news for a report's reader.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        return optuna.create_study(direction=direction)
    finally:
        optuna.logging.set_verbosity(verbosity)


def rank_agreement(results: Sequence[ImportanceResult]) -> str:
    """One line: do the evaluators agree on λ's rank? Names each rank and how many trials."""
    if not results:
        return "no importances to compare"
    ranks = {r.rank for r in results}
    n_params = max(len(r.importances) for r in results)
    each = "; ".join(f"{'not searched' if r.rank is None else r.rank} by {r.label}"
                     for r in results)
    if len(results) == 1:
        return f"λ's rank among {n_params} parameters: {each} (one evaluator only)"
    agree = "the evaluators agree" if len(ranks) == 1 else "the evaluators DISAGREE"
    return f"λ's rank among {n_params} parameters: {each}: {agree}"


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
    trials = complete_trials(study)
    lams = [(t, effective_lambda(t, bounds)) for t in trials]
    maximize = study.direction == StudyDirection.MAXIMIZE
    return LambdaEffect(
        baseline=_arm_best([t for t, lam in lams if lam == 0.0], maximize, bounds),
        with_lambda=_arm_best([t for t, lam in lams if lam is not None and lam > 0.0], maximize,
                              bounds))
