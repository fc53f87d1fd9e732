"""How much λ matters: parameter importances, the λ = 0 vs λ > 0 effect, ablation statistics.

Pure functions over a study's trials; nothing here trains, plots or writes files.
Importances rest on COMPLETE trials only (Optuna ignores pruned ones), so every result says how
many trials it rests on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import optuna
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

LAMBDA_PARAM = "log10_lambda"
EVALUATORS = ("fanova", "ped-anova")
# log10_lambda below this means λ = 0 (objectives.profiles); only used when a trial lacks the
# `lambda` user attribute, which every trial of the service sets.
_DEFAULT_LAMBDA_OFF_BELOW = -2.0


@dataclass(frozen=True)
class ImportanceResult:
    evaluator: str  # "fanova" or "ped-anova"
    importances: dict[str, float]  # normalized, most important first
    n_trials: int  # COMPLETE trials the result rests on
    param: str = LAMBDA_PARAM

    @property
    def rank(self) -> int | None:
        """1-based rank of λ among the searched parameters (None if λ was not searched)."""
        names = list(self.importances)
        return names.index(self.param) + 1 if self.param in names else None

    @property
    def share(self) -> float | None:
        return self.importances.get(self.param)

    def to_dict(self) -> dict:
        return {"evaluator": self.evaluator, "importances": self.importances,
                "n_trials": self.n_trials, "lambda_rank": self.rank, "lambda_share": self.share}


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


def effective_lambda(trial: FrozenTrial,
                     lambda_off_below: float = _DEFAULT_LAMBDA_OFF_BELOW) -> float | None:
    """The λ a trial trained with: its `lambda` user attribute, else derived from its params."""
    if "lambda" in trial.user_attrs:
        return float(trial.user_attrs["lambda"])
    if LAMBDA_PARAM in trial.params:
        value = float(trial.params[LAMBDA_PARAM])
        return 0.0 if value < lambda_off_below else 10.0**value
    return None


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


def _arm_best(trials: Sequence[FrozenTrial], maximize: bool = True) -> ArmBest:
    if not trials:
        return ArmBest(n_trials=0)
    pick = max if maximize else min
    best = pick(trials, key=lambda t: float(t.value))
    test = best.user_attrs.get("test_accuracy")
    return ArmBest(n_trials=len(trials), trial_number=best.number, val_accuracy=float(best.value),
                   test_accuracy=None if test is None else float(test),
                   lam=effective_lambda(best))


def lambda_effect(study: optuna.Study) -> LambdaEffect:
    """Best validation accuracy of λ = 0 vs λ > 0 trials, with the test accuracy of each best.

    The test accuracy is that of the best-validation trial of each arm (never the best test
    accuracy, which would select on the test set).
    """
    trials = complete_trials(study)
    lams = [(t, effective_lambda(t)) for t in trials]
    maximize = study.direction == StudyDirection.MAXIMIZE
    return LambdaEffect(
        baseline=_arm_best([t for t, lam in lams if lam == 0.0], maximize),
        with_lambda=_arm_best([t for t, lam in lams if lam is not None and lam > 0.0], maximize))


@dataclass(frozen=True)
class MeanCI:
    """Mean with a two-sided confidence interval from Student's t distribution."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof = 1); nan for n = 1
    low: float
    high: float
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def format(self, scale: float = 100.0, unit: str = " %") -> str:
        if math.isnan(self.half_width):
            return f"{self.mean * scale:.2f}{unit} (n = {self.n}, no interval)"
        return (f"{self.mean * scale:.2f} ± {self.half_width * scale:.2f}{unit} "
                f"(95 % CI {self.low * scale:.2f} … {self.high * scale:.2f}, n = {self.n})")


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean ± t_{(1+c)/2, n-1} · s / √n. With one value the interval is undefined (nan)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return MeanCI(n=1, mean=mean, std=math.nan, low=math.nan, high=math.nan,
                      confidence=confidence)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, x.size - 1)) * std / math.sqrt(x.size)
    return MeanCI(n=int(x.size), mean=mean, std=std, low=mean - half, high=mean + half,
                  confidence=confidence)


@dataclass(frozen=True)
class AblationStats:
    with_lambda: MeanCI
    without_lambda: MeanCI
    difference: MeanCI  # paired by seed: with − without
    p_value: float  # two-sided paired t-test; nan with fewer than two pairs

    def to_dict(self) -> dict:
        return {"with_lambda": asdict(self.with_lambda),
                "without_lambda": asdict(self.without_lambda),
                "difference": asdict(self.difference), "p_value": self.p_value}


def ablation_stats(with_lambda: Sequence[float], without_lambda: Sequence[float],
                   confidence: float = 0.95) -> AblationStats:
    """Both arms' mean ± CI and the paired difference's (runs paired by seed, same order)."""
    a = np.asarray(with_lambda, dtype=float)
    b = np.asarray(without_lambda, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("ablation arms must be non-empty and paired (same number of seeds)")
    diff = a - b
    p_value = math.nan
    if a.size >= 2:
        if np.ptp(diff) <= 1e-12:
            # zero variance: ttest_rel would give nan (or noise from rounding)
            p_value = 1.0 if abs(diff[0]) <= 1e-12 else 0.0
        else:
            p_value = float(stats.ttest_rel(a, b).pvalue)
    return AblationStats(with_lambda=mean_ci(a, confidence), without_lambda=mean_ci(b, confidence),
                         difference=mean_ci(diff, confidence), p_value=p_value)
