"""How much λ matters in the search phase by parameter importances (effects come from the
replicate phase, `study.analysis.effects`).

Pure functions over a study's trials; nothing here trains, plots or writes files.
`param_importance` rests on COMPLETE trials only (Optuna ignores pruned ones);
`importance_all_trials` rests on every finished trial's validation accuracy at one common epoch,
pruned ones included. Every result says which trials and how many it rests on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from objectives import LAMBDA_PARAM
from study.trials import FINISHED

EVALUATORS = ("fanova", "ped-anova")
_LABELS = {"fanova": "fANOVA", "ped-anova": "PED-ANOVA"}


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


def compute_importances(study: optuna.Study, *, seed: int = 0,
                        evaluators: Sequence[str] = EVALUATORS
                        ) -> tuple[list[ImportanceResult], list[tuple[str, str]]]:
    """Importances over COMPLETE trials with each evaluator, then fANOVA over every finished
    trial; the results, and (what, why) for each that could not be computed."""
    results, problems = [], []
    computations = [(name, lambda name=name: param_importance(study, name, seed=seed))
                    for name in evaluators]
    computations.append(("fanova over all finished trials",
                         lambda: importance_all_trials(study, seed=seed)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fANOVA's and PED-ANOVA's own warnings are not news
        for name, compute in computations:
            try:
                results.append(compute())
            except (ValueError, RuntimeError) as exc:
                problems.append((name, str(exc)))
    return results, problems


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
