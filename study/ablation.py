"""The ablation: retrain one configuration with its λ and with λ = 0, K seeds each, through the
same training code as every trial, so "does the reconstruction loss help" gets an answer with
its uncertainty rather than one lucky run.

Runs are paired by seed: seed k trains both arms from the same initial weights and batch order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from study.analysis import AblationStats, ablation_stats, effective_lambda

ABLATION_ATTR = "ablation"  # study user attribute holding the last ablation's results
SEED_OFFSET = 10_000  # keeps ablation seeds apart from trial seeds (study seed + trial number)


@dataclass(frozen=True)
class AblationPlan:
    trial_number: int  # the configuration's source trial
    lam: float
    dropout: float
    hidden: int
    note: str = ""  # why the plan differs from "the best trial", if it does


@dataclass(frozen=True)
class AblationRun:
    seed: int
    lam: float
    val_accuracy: float
    test_accuracy: float
    epochs: int
    seconds: float
    device: str


@dataclass(frozen=True)
class AblationResult:
    plan: AblationPlan
    with_lambda: list[AblationRun]
    without_lambda: list[AblationRun]

    @property
    def stats(self) -> AblationStats:
        return ablation_stats([r.test_accuracy for r in self.with_lambda],
                              [r.test_accuracy for r in self.without_lambda])

    def to_dict(self) -> dict:
        return {"plan": asdict(self.plan),
                "with_lambda": [asdict(r) for r in self.with_lambda],
                "without_lambda": [asdict(r) for r in self.without_lambda]}

    @classmethod
    def from_dict(cls, data: dict) -> AblationResult:
        return cls(plan=AblationPlan(**data["plan"]),
                   with_lambda=[AblationRun(**r) for r in data["with_lambda"]],
                   without_lambda=[AblationRun(**r) for r in data["without_lambda"]])


def plan_ablation(study: optuna.Study) -> AblationPlan:
    """The best trial's configuration. If the best trial has λ = 0 there is nothing to ablate,
    so the λ comes from the best λ > 0 trial, on the best trial's dropout and hidden size."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no complete trials to ablate; "
                         "run workers first")
    best = study.best_trial
    lam, note = effective_lambda(best), ""
    if not lam:
        positive = [t for t in complete if (effective_lambda(t) or 0.0) > 0]
        if not positive:
            raise ValueError("the study has no complete trial with λ > 0 to ablate")
        donor = max(positive, key=lambda t: float(t.value))
        lam = effective_lambda(donor)
        note = (f"the best trial #{best.number} has λ = 0; λ = {lam:.4g} comes from the best "
                f"λ > 0 trial #{donor.number}")
    return AblationPlan(trial_number=best.number, lam=float(lam),
                        dropout=float(best.params["dropout"]), hidden=int(best.params["hidden"]),
                        note=note)


def run_ablation(plan: AblationPlan, *, data: str, profile: str, cache_dir: Path,
                 seeds: int, base_seed: int = 0, split: str = "seed", device: str = "auto",
                 max_epochs: int | None = None,
                 log: Callable[[str], None] | None = None) -> AblationResult:
    """Train `plan` with its λ and with λ = 0 for `seeds` seeds each (sequentially, on `device`).

    The feature cache is built (or reused) once, exactly as a worker does.
    """
    if seeds < 1:
        raise ValueError("--seeds must be at least 1 (2 or more for a confidence interval)")
    from objectives.data import load_training_data
    from objectives.experiment import Experiment
    from objectives.profiles import get_profile
    from objectives.search_space import TrialParams
    from objectives.training import configure_threads, quiet_lightning, train_configuration

    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    prof = get_profile(profile)
    configure_threads()
    quiet_lightning()
    experiment = Experiment(data=data, profile=prof, split=split, seed=base_seed)
    prepared = load_training_data(experiment, cache_dir)  # padded once for all 2 × seeds runs
    arms: dict[float, list[AblationRun]] = {plan.lam: [], 0.0: []}
    total = 2 * seeds
    for k in range(seeds):
        seed = base_seed + SEED_OFFSET + k
        for lam in (plan.lam, 0.0):
            params = TrialParams(lam=lam, dropout=plan.dropout, hidden=plan.hidden)
            outcome = train_configuration(prepared, params, prof, seed=seed, max_epochs=max_epochs,
                                          device=device)
            run = AblationRun(seed=seed, lam=lam, val_accuracy=float(outcome.val_accuracy),
                              test_accuracy=float(outcome.test_accuracy), epochs=outcome.epochs,
                              seconds=round(outcome.seconds, 3), device=outcome.device)
            arms[lam].append(run)
            done = sum(len(v) for v in arms.values())
            say(f"ablation {done}/{total}: seed {seed} λ = {lam:.4g} "
                f"test accuracy {run.test_accuracy:.4f} ({run.seconds:.1f} s)")
    return AblationResult(plan=plan, with_lambda=arms[plan.lam], without_lambda=arms[0.0])


def save_ablation(study: optuna.Study, result: AblationResult) -> None:
    """Keep the result with the study, so later reports (and the dashboard) show it."""
    study.set_user_attr(ABLATION_ATTR, result.to_dict())


def load_ablation(study: optuna.Study) -> AblationResult | None:
    data = study.user_attrs.get(ABLATION_ATTR)
    if not data:
        return None
    try:
        return AblationResult.from_dict(data)
    except (KeyError, TypeError):
        return None  # written by another version: ignore rather than fail the report


