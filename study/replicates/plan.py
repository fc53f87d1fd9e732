"""The replicate phase's plan: the best configuration and its one-factor variants, K paired seeds
each, in the companion study `NAME-replicates`.

Single search trials rank configurations; they do not measure effects. Once the search budget is
finished, the first worker to get there plans the replicates (under the study lock, so exactly
once) into the companion study `NAME-replicates` in the same storage, and every worker serves
them like search trials: one trial per (arm, seed), fixed parameters, no pruning, full epochs,
heartbeats and the stale-trial retry. Seed k trains every arm from the same initial weights (the
same architecture) and the same batch order, so arms are compared pair by pair.

Arms, all at the best configuration's other parameters: the best as found; λ = 0; the reference's
λ = 10 (unless it is the best's λ or outside the study's λ range); dropout at the baseline value;
hidden size at the baseline value; and the user's own λs. When the best configuration has λ = 0,
the best λ > 0 trial's λ becomes an arm, so the λ effect is always measured.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives.experiment import Experiment
from objectives.search_space import TrialParams, effective_lambda, from_params
from storage.optuna_internals import backend_of, study_lock
from study.errors import UserError
from study.service import name_metric
from study.trials import best_of, n_finished

SUFFIX = "-replicates"
SEED_OFFSET = 10_000  # training seeds of replicates: apart from search trials' (seed + number)
PLAN_ATTR = "plan"  # companion study attribute: the current plan
BUDGET_ATTR = "n_planned"  # companion study attribute: replicate trials planned, all plans
SAME = 1e-9


@dataclass(frozen=True)
class Arm:
    key: str  # stable id: "best", "lambda=0", "lambda=10", "dropout=0.3", "hidden=64"
    label: str  # for people: "λ = 0", "dropout 0.3 (baseline)"
    factor: str | None  # the one parameter changed from the best: "λ", "dropout", "hidden"
    lam: float
    dropout: float
    hidden: int

    @property
    def params(self) -> TrialParams:
        return TrialParams(lam=self.lam, dropout=self.dropout, hidden=self.hidden)


@dataclass(frozen=True)
class Plan:
    source_trial: int  # the search trial whose configuration is the best arm
    lambda_arm: str  # the arm that measures λ against λ = 0 ("best", or the best λ > 0 donor)
    arms: tuple[Arm, ...]
    seeds: int
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"source_trial": self.source_trial, "lambda_arm": self.lambda_arm,
                "arms": [asdict(arm) for arm in self.arms], "seeds": self.seeds,
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(source_trial=int(data["source_trial"]), lambda_arm=data["lambda_arm"],
                   arms=tuple(Arm(**arm) for arm in data["arms"]), seeds=int(data["seeds"]),
                   notes=tuple(data.get("notes", ())))


@dataclass
class ReplicatePhase:
    study: optuna.Study  # the companion study
    plan: Plan
    budget: int  # replicate trials planned in all, over every plan


def _lam_text(lam: float) -> str:
    return "0" if lam == 0 else f"{lam:.3g}"


def plan_arms(trials: Sequence[FrozenTrial], experiment: Experiment, *, seeds: int,
              lambdas: Sequence[float] = ()) -> Plan:
    """The arms around the best COMPLETE search trial (UserError if there is none)."""
    bounds = experiment.search
    best = best_of(trials)
    if best is None:
        raise UserError("the search has no complete trial yet: nothing to replicate")
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    p = from_params(best.params, bounds)
    arms = [Arm("best", f"best: λ = {_lam_text(p.lam)}, dropout {p.dropout:.3g}, hidden "
                        f"{p.hidden}", None, p.lam, p.dropout, p.hidden)]
    notes, lambda_arm = [], "best"

    def add(key: str, label: str, factor: str, **change: Any) -> None:
        candidate = Arm(**{**asdict(arms[0]), **change, "key": key, "label": label,
                           "factor": factor})
        if any(abs(a.lam - candidate.lam) < SAME and abs(a.dropout - candidate.dropout) < SAME
               and a.hidden == candidate.hidden for a in arms):
            return  # the same configuration as an arm already planned
        arms.append(candidate)

    if p.lam == 0:
        positive = [t for t in complete if (effective_lambda(t, bounds) or 0.0) > 0]
        if positive:
            donor = best_of(positive)
            lam = float(effective_lambda(donor, bounds))
            add(f"lambda={lam:.6g}", f"λ = {_lam_text(lam)} (best λ > 0, trial {donor.number})",
                "λ", lam=lam)
            lambda_arm = arms[-1].key
            notes.append(f"the best trial #{best.number} has λ = 0; λ = {lam:.4g} of the best "
                         f"λ > 0 trial #{donor.number} measures the λ effect")
        else:
            notes.append("no complete trial has λ > 0: the λ effect is measured at the "
                         "reference's λ only")
    else:
        add("lambda=0", "λ = 0", "λ", lam=0.0)
    low, high = 10 ** bounds.lambda_off_below, 10 ** bounds.log10_lambda[1]
    reference = experiment.replicates.reference_lambda
    if reference is not None:
        if not low - SAME <= reference <= high + SAME:
            notes.append(f"the reference's λ = {reference:g} lies outside the study's λ range "
                         f"({low:.3g} … {high:.3g}): not replicated")
        else:
            add(f"lambda={reference:g}", f"λ = {reference:g} (reference)", "λ", lam=reference)
            if p.lam == 0 and lambda_arm == "best":
                lambda_arm = arms[-1].key
    for lam in lambdas:
        add(f"lambda={lam:.6g}", f"λ = {_lam_text(lam)}", "λ", lam=float(lam))
    add(f"dropout={bounds.baseline_dropout:g}", f"dropout {bounds.baseline_dropout:g} (baseline)",
        "dropout", dropout=bounds.baseline_dropout)
    add(f"hidden={bounds.baseline_hidden}", f"hidden {bounds.baseline_hidden} (baseline)",
        "hidden", hidden=bounds.baseline_hidden)
    return Plan(source_trial=best.number, lambda_arm=lambda_arm, arms=tuple(arms), seeds=seeds,
                notes=tuple(notes))


def companion_name(study_name: str) -> str:
    return study_name + SUFFIX


def open_companion(study: optuna.Study, *, create: bool) -> optuna.Study | None:
    """The replicates study beside `study` in the same storage (None if absent and not created)."""
    storage = backend_of(study)
    name = companion_name(study.study_name)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        if not create:
            return None
        try:
            storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], name)
        except optuna.exceptions.DuplicatedStudyError:
            pass  # created by another worker just now
        companion = optuna.Study(name, storage, pruner=optuna.pruners.NopPruner())
        name_metric(companion)
        companion.set_user_attr("search_study", study.study_name)
        return companion
    return optuna.Study(name, storage, pruner=optuna.pruners.NopPruner())


def require_finished_search(loaded: Any, then: str) -> None:
    """Replicates measure the search's best configuration: refuse before the search is done."""
    experiment, name = loaded.experiment, loaded.study.study_name
    finished = n_finished(loaded.study)
    if experiment.n_trials is not None and finished >= experiment.n_trials:
        return
    has = f"has {finished} finished trials" + (
        " and no stored budget" if experiment.n_trials is None
        else f" of a budget of {experiment.n_trials}")
    raise UserError(f"the replicate phase of study {name!r} runs once its search is finished, "
                    f"and the search {has}; finish it first (python -m study run --study "
                    f"{shlex.quote(name)} --n-trials N), then {then} again")


def ensure_planned(loaded: Any, *, seeds: int | None = None, lambdas: Sequence[float] | None = None,
                   log: Callable[[str], None] = lambda message: None) -> ReplicatePhase | None:
    """Plan (or extend to `seeds`) the replicates of `loaded`'s best configuration, once.

    Safe from many workers at once: planning runs under the companion study's lock, and only
    (arm, seed) pairs that no trial holds yet are enqueued. A plan for an older best (the search
    was extended since) is kept, and a new one is made for the current best.
    """
    experiment = loaded.experiment
    settings = experiment.replicates
    seeds = settings.seeds if seeds is None else seeds
    lambdas = settings.lambdas if lambdas is None else tuple(lambdas)
    if seeds < 1:
        return None
    search = loaded.study
    companion = open_companion(search, create=True)
    with study_lock(companion):
        attrs = companion.user_attrs
        plan = plan_arms(search.get_trials(deepcopy=False), experiment, seeds=seeds,
                         lambdas=lambdas)
        current = Plan.from_dict(attrs[PLAN_ATTR]) if PLAN_ATTR in attrs else None
        if current is not None and current.source_trial == plan.source_trial:
            keep = {arm.key for arm in current.arms}
            arms = current.arms + tuple(a for a in plan.arms if a.key not in keep)
            plan = Plan(plan.source_trial, current.lambda_arm, arms,
                        max(seeds, current.seeds), current.notes)
        held = {(t.user_attrs.get("plan"), t.user_attrs.get("arm"), t.user_attrs.get("seed"))
                for t in companion.get_trials(deepcopy=False)}
        added = 0
        for k in range(plan.seeds):
            for arm in plan.arms:
                if (plan.source_trial, arm.key, k) in held:
                    continue
                companion.enqueue_trial({}, user_attrs=_replicate_attrs(plan, arm, k, experiment),
                                        skip_if_exists=False)
                added += 1
        budget = int(attrs.get(BUDGET_ATTR, 0)) + added
        companion.set_user_attr(BUDGET_ATTR, budget)
        companion.set_user_attr(PLAN_ATTR, plan.as_dict())
    if added:
        log(f"replicates: planned {added} runs ({len(plan.arms)} arms × {plan.seeds} seeds) of "
            f"trial {plan.source_trial}'s configuration in study {companion.study_name!r}")
    return ReplicatePhase(companion, plan, budget)


def _replicate_attrs(plan: Plan, arm: Arm, k: int, experiment: Experiment) -> dict[str, Any]:
    return {"plan": plan.source_trial, "arm": arm.key, "arm_label": arm.label, "seed": k,
            "train_seed": experiment.seed + SEED_OFFSET + k, "lambda": arm.lam,
            "dropout": arm.dropout, "hidden": arm.hidden}


