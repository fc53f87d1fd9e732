"""Rounds of seeds: once a round's runs are all finished, the first worker to see it decides,
under the companion study's lock (so exactly once), which arms get the next seeds, or that the
phase is done.

More seeds go only to the comparisons whose 95 % interval is still wider than the target: the
effects (λ, dropout, hidden size) and the race between the leader and the candidates still in it
(`study.analysis.answer`). A candidate significantly worse than the leader leaves the race.
Rounds stop on precision, the seed cap or the phase's budget, never on significance: stopping
when a result becomes significant would bias its interval. A round adds K0 seeds to each arm
that needs them, fewer where the budget would not hold them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import optuna
from optuna.trial import TrialState

from storage import count_trials, study_lock
from study.analysis import decision_rules, stopping
from study.analysis.answer import decide
from study.analysis.effects import race_rounds
from study.design import Plan, Round, Run
from study.replicates.plan import BUDGET_ATTR, current_plan, enqueue, open_companion
from study.replicates.runs import finished_runs
from study.replicates.settings import ReplicateSettings
from study.service import LoadedStudy
from study.trials import FINISHED


@dataclasses.dataclass(frozen=True)
class Pace:
    """How fast the phase has gone so far: what the budget and the ETA rest on."""

    elapsed: float  # wall seconds since the phase's first run started
    device: float  # summed seconds of the finished runs
    per_run: float  # mean wall seconds of a run
    parallel: float  # runs at a time (summed run time over elapsed time)

    def eta(self, runs: int) -> float:
        return math.ceil(runs / max(1.0, round(self.parallel))) * self.per_run


def pace(trials: Sequence[optuna.trial.FrozenTrial]) -> Pace | None:
    done = [t for t in trials if t.state.is_finished() and t.datetime_start
            and t.datetime_complete]
    if not done:
        return None
    spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    start = min(t.datetime_start for t in done)
    elapsed = max(1e-3, (max(t.datetime_complete for t in done) - start).total_seconds())
    device = sum(float(t.user_attrs.get("seconds", 0.0)) for t in done)
    return Pace(elapsed=elapsed, device=device, per_run=sum(spans) / len(spans),
                parallel=max(1.0, sum(spans) / elapsed))


def next_round(plan: Plan, runs: Sequence[Run], settings: ReplicateSettings,
               timing: Pace | None) -> tuple[Round | None, str, str | None]:
    """The next round of `plan`, or None and why the phase is done; and the current winner
    (at the phase's end: the race's choice, ties resolved by its stated rule)."""
    decisive = decide(plan, runs, race_rounds=race_rounds(plan), eliminated=plan.eliminated)
    leaving = tuple(decisive.race.eliminated) if decisive.race is not None else ()

    def done(why: str) -> tuple[None, str, str | None]:
        final = decide(dataclasses.replace(plan, done=why), runs, race_rounds=race_rounds(plan),
                       eliminated=plan.eliminated)
        return None, why, final.winner

    if settings.target_ci is None or plan.max_seeds <= plan.seeds:
        return done("one round planned (no --target-ci or --max-seeds above the first round)")
    comparisons = decisive.comparisons
    # Stopping on precision before MIN_SEEDS under-covers (the SD that stops is a lucky one):
    # at least that many seeds first, as the simulation in study.analysis.stopping shows.
    wanted = decision_rules.seeds_to_add(
        {c.key: c.half_width for c in comparisons}, settings.target_ci,
        {c.key: c.seeds for c in comparisons}, plan.max_seeds,
        {c.key: c.arms for c in comparisons}, min_seeds=stopping.MIN_SEEDS)
    if not wanted.arms:
        if wanted.capped:
            return done(f"every arm that needs more seeds has {plan.max_seeds} (--max-seeds): "
                        f"{', '.join(wanted.capped)} still wider than "
                        f"±{settings.target_ci * 100:g} points")
        return done(f"every interval is within ±{settings.target_ci * 100:g} points")
    step = _fitting_step(plan, wanted.arms, settings, timing)
    if step < 1:
        return done("the phase's budget holds no further round")
    seeds = dict(plan.rounds[-1].seeds)
    for key in wanted.arms:
        seeds[key] = min(plan.max_seeds, seeds[key] + step)
    added = sum(seeds.values()) - sum(plan.rounds[-1].seeds.values())
    eta = None if timing is None else timing.eta(added)
    effects = [c.removesuffix(" effect") for c in wanted.comparisons if c.endswith(" effect")]
    races = sum(c.startswith("race: ") for c in wanted.comparisons)
    parts = ([f"the {', '.join(effects)} effect{'s' if len(effects) > 1 else ''}"]
             if effects else []) + ([f"{races} race comparison{'s' if races > 1 else ''}"]
                                    if races else [])
    reason = (f"wider than ±{settings.target_ci * 100:g} points or under {stopping.MIN_SEEDS} "
              f"seeds: {' and '.join(parts)}")
    return Round(len(plan.rounds) + 1, seeds, reason, leaving, eta), "", decisive.winner


def _fitting_step(plan: Plan, arms: Sequence[str], settings: ReplicateSettings,
                  timing: Pace | None) -> int:
    """K0 more seeds per arm, or fewer where the phase's budget would not hold them."""
    step = plan.seeds
    if settings.budget_seconds is None or timing is None:
        return step
    while step >= 1:
        runs = sum(min(plan.max_seeds, plan.seeds_of(a) + step) - plan.seeds_of(a) for a in arms)
        spent = timing.elapsed if settings.budget_kind == "wall" else timing.device
        cost = timing.eta(runs) if settings.budget_kind == "wall" else runs * timing.per_run
        if spent + cost <= settings.budget_seconds:
            return step
        step -= 1
    return 0


def plan_next_round(loaded: LoadedStudy, log: Callable[[str], None] = lambda message: None,
                    on_done: Callable[[optuna.Study, Plan, str | None], None] | None = None
                    ) -> bool:
    """Plan the next round if the current one is finished (exactly once, under the lock). True
    when the plan has runs waiting to be served (planned now or by another worker). When the
    phase ends, `on_done(companion, plan, winner)` runs once, still under the lock."""
    companion = open_companion(loaded.study, create=False)
    if companion is None:
        return False
    with study_lock(companion):
        plan = current_plan(companion)
        if plan is None or count_trials(companion, (TrialState.WAITING,)):
            return plan is not None
        if plan.done is not None or count_trials(companion, FINISHED) < int(
                companion.user_attrs.get(BUDGET_ATTR, 0)):
            return False  # done, or runs still RUNNING elsewhere: their worker goes on
        trials = companion.get_trials(deepcopy=False)
        timing = pace([t for t in trials if t.user_attrs.get("plan") == plan.source_trial])
        round_, why, winner = next_round(plan, finished_runs(companion, plan),
                                         loaded.experiment.replicates, timing)
        if round_ is None:
            done = dataclasses.replace(plan, done=why)
            enqueue(companion, done, loaded.experiment)
            if on_done is not None:
                on_done(companion, done, winner)
            log(f"replicates: done after round {len(plan.rounds)}: {why}")
            return False
        grown = dataclasses.replace(plan, rounds=(*plan.rounds, round_))
        added = enqueue(companion, grown, loaded.experiment)
    arms = sum(grown.seeds_of(a.key) > plan.seeds_of(a.key) for a in grown.arms)
    eta = "" if round_.eta_seconds is None else f", ETA {_duration(round_.eta_seconds)}"
    left = f"; left the race: {', '.join(round_.eliminated)}" if round_.eliminated else ""
    log(f"replicates: round {round_.number}: planned {added} runs ({arms} arms, up to "
        f"{max(round_.seeds.values())} seeds){eta}; {round_.reason}{left}")
    return added > 0


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
