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

import dataclasses
import shlex
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives import SearchBounds, TrialParams, from_params, params_of
from storage import backend_of, study_lock
from study.design import SAME, Arm, Plan, Round
from study.errors import UserError
from study.experiment import Experiment
from study.replicates.grids import log_spaced
from study.service import LoadedStudy, name_metric
from study.trials import best_of, n_finished

SUFFIX = "-replicates"
SEED_OFFSET = 10_000  # training seeds of replicates: apart from search trials' (seed + number)
PLAN_ATTR = "plan"  # companion study attribute: the current plan
BUDGET_ATTR = "n_planned"  # companion study attribute: replicate trials planned, all plans


@dataclass
class ReplicatePhase:
    study: optuna.Study  # the companion study
    plan: Plan
    budget: int  # replicate trials planned in all, over every plan


def _lam_text(lam: float) -> str:
    return "0" if lam == 0 else f"{lam:.3g}"


def _config_text(p: TrialParams) -> str:
    return f"λ = {_lam_text(p.lam)}, dropout {p.dropout:.3g}, hidden {p.hidden}"


def plan_arms(trials: Sequence[FrozenTrial], experiment: Experiment, *, seeds: int,
              lambdas: Sequence[float] = ()) -> Plan:
    """The arms around the best COMPLETE search trial (UserError if there is none): the λ curve
    and the one-factor ends at the best configuration, and the top k search configurations."""
    bounds, settings = experiment.search, experiment.replicates
    best = best_of(trials)
    if best is None:
        raise UserError("the search has no complete trial yet: nothing to replicate")
    p = from_params(best.params, bounds)
    arms = [Arm("best", f"best: {_config_text(p)}", None, p.lam, p.dropout, p.hidden,
                origin=f"search trial {best.number}", search_trial=best.number,
                search_value=float(best.value))]
    notes: list[str] = []

    def add(key: str, label: str, factor: str, origin: str, **change: Any) -> None:
        candidate = Arm(**{**asdict(arms[0]), **change, "key": key, "label": label,
                           "factor": factor, "origin": origin, "search_trial": None,
                           "search_value": None})
        if not any(a.same_configuration(candidate) for a in arms):
            arms.append(candidate)

    low, high = 10 ** bounds.lambda_off_below, 10 ** bounds.log10_lambda[1]
    curve = [0.0, *log_spaced(low, high, settings.curve_points), *lambdas]
    reference = settings.reference_lambda
    if reference is not None and low - SAME <= reference <= high + SAME:
        curve.append(reference)
    elif reference is not None:
        notes.append(f"the reference's λ = {reference:g} lies outside the study's λ range "
                     f"({low:.3g} … {high:.3g}): not replicated")
    for lam in sorted(set(curve)):
        tag = " (reference)" if reference is not None and abs(lam - reference) < SAME else ""
        add(f"lambda={lam:.6g}", f"λ = {_lam_text(lam)}{tag}", "λ",
            f"λ-curve point λ = {_lam_text(lam)}", lam=float(lam))
    ends = {"low end": 0, "high end": 1}
    for dropout in settings.dropouts or bounds.dropout:
        where = next((k for k, i in ends.items() if bounds.dropout[i] == dropout), "named")
        add(f"dropout={dropout:g}", f"dropout {dropout:g} ({where})", "dropout",
            f"dropout at the {where}" if where != "named" else f"dropout {dropout:g}",
            dropout=float(dropout))
    for hidden in settings.hiddens or (bounds.hidden[0], bounds.hidden[1]):
        where = next((k for k, i in ends.items() if bounds.hidden[i] == hidden), "named")
        add(f"hidden={hidden}", f"hidden {hidden} ({where})", "hidden",
            f"hidden size at the {where}" if where != "named" else f"hidden size {hidden}",
            hidden=int(hidden))
    _add_candidates(arms, trials, bounds, settings.candidates)
    first = Round(1, {arm.key: seeds for arm in arms}, "first round")
    return Plan(source_trial=best.number, lambda_arm="best", arms=tuple(arms), seeds=seeds,
                notes=tuple(notes), rounds=(first,), max_seeds=max(seeds, settings.seed_cap))


def _add_candidates(arms: list[Arm], trials: Sequence[FrozenTrial], bounds: SearchBounds,
                    k: int) -> None:
    """The next k − 1 distinct configurations of the search by validation accuracy (the best is
    the first); one already among the arms is marked as coming from its search trial too."""
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE and t.value is not None),
                      key=lambda t: (-float(t.value), t.number))
    taken = 1
    for trial in complete:
        if taken >= k:
            break
        p = from_params(trial.params, bounds)
        arm = Arm(f"trial={trial.number}", f"trial {trial.number}: {_config_text(p)}", "config",
                  p.lam, p.dropout, p.hidden, origin=f"search trial {trial.number}",
                  search_trial=trial.number, search_value=float(trial.value))
        same = next((i for i, a in enumerate(arms) if a.same_configuration(arm)), None)
        if same is None:
            arms.append(arm)
            taken += 1
        elif arms[same].search_trial is None:
            arms[same] = dataclasses.replace(arms[same], search_trial=trial.number,
                                             search_value=float(trial.value))
            taken += 1


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


def require_finished_search(loaded: LoadedStudy, then: str) -> None:
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


def ensure_planned(loaded: LoadedStudy, *, seeds: int | None = None, lambdas: Sequence[float] | None = None,
                   log: Callable[[str], None] = lambda message: None) -> ReplicatePhase | None:
    """Plan the first round of the replicates of `loaded`'s best configuration, once; or extend
    the plan to `seeds` per arm and to new λ points (`replicate --seeds K --lambdas …`).

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
        fresh = plan_arms(search.get_trials(deepcopy=False), experiment, seeds=seeds,
                          lambdas=lambdas)
        current = current_plan(companion)
        plan = fresh if current is None or current.source_trial != fresh.source_trial \
            else _extended(current, fresh, seeds)
        added = enqueue(companion, plan, experiment)
    if added and len(plan.rounds) == 1:
        log(f"replicates: planned {added} runs ({len(plan.arms)} arms × {plan.seeds} seeds) of "
            f"trial {plan.source_trial}'s configuration in study {companion.study_name!r}, round 1")
    elif added:
        log(f"replicates: {added} more runs planned by hand in study {companion.study_name!r}")
    return ReplicatePhase(companion, plan, int(companion.user_attrs.get(BUDGET_ATTR, 0)))


def _extended(current: Plan, fresh: Plan, seeds: int) -> Plan:
    """The current plan with the fresh plan's new arms and at least `seeds` seeds per arm; a
    round is added (and a finished phase reopened) only where that changes something."""
    known = [a.key for a in current.arms]
    arms = current.arms + tuple(a for a in fresh.arms if a.key not in known
                                and not any(a.same_configuration(b) for b in current.arms))
    counts = {arm.key: max(current.seeds_of(arm.key), seeds) for arm in arms}
    if counts == current.rounds[-1].seeds:
        return current
    extra = Round(len(current.rounds) + 1, counts, "extended by hand")
    return dataclasses.replace(current, arms=arms, seeds=max(seeds, current.seeds),
                               rounds=(*current.rounds, extra), done=None)


def current_plan(companion: optuna.Study | None) -> Plan | None:
    if companion is None or PLAN_ATTR not in companion.user_attrs:
        return None
    return Plan.from_dict(companion.user_attrs[PLAN_ATTR])


def enqueue(companion: optuna.Study, plan: Plan, experiment: Experiment) -> int:
    """Store `plan` and queue every (arm, seed) it holds that no trial holds yet; the number
    queued. Call under the companion study's lock."""
    held = {(t.user_attrs.get("plan"), t.user_attrs.get("arm"), t.user_attrs.get("seed"))
            for t in companion.get_trials(deepcopy=False)}
    added = 0
    for k in range(max((plan.seeds_of(a.key) for a in plan.arms), default=0)):
        for arm in plan.arms:
            if k >= plan.seeds_of(arm.key) or (plan.source_trial, arm.key, k) in held:
                continue
            companion.enqueue_trial(arm_params(arm, experiment.search),
                                    user_attrs=_replicate_attrs(plan, arm, k, experiment),
                                    skip_if_exists=False)
            added += 1
    companion.set_user_attr(BUDGET_ATTR, int(companion.user_attrs.get(BUDGET_ATTR, 0)) + added)
    companion.set_user_attr(PLAN_ATTR, plan.as_dict())
    return added


def arm_params(arm: Arm, bounds: SearchBounds) -> dict[str, Any]:
    return params_of(arm.params, bounds)


def _replicate_attrs(plan: Plan, arm: Arm, k: int, experiment: Experiment) -> dict[str, Any]:
    return {"plan": plan.source_trial, "arm": arm.key, "arm_label": arm.label, "seed": k,
            "train_seed": experiment.seed + SEED_OFFSET + k, "lambda": arm.lam,
            "dropout": arm.dropout, "hidden": arm.hidden, "with_params": True}


