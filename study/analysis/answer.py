"""The decisive answer of a replicate plan: the λ curve with its simultaneous band, the three
effects by one measure and their ranking, the race for the best configuration and its winner
(with the tie rule), the winner's curse of the search, and which comparisons are still wider than
the target (where the next round's seeds go). Every interval comes from one blocked fit per
metric (seeds as blocks) and a max-|t| family (`study.analysis.blocked_answer`).

Effects and the curve are measured on test accuracy (generalization is the claim); the race and
the winner are decided on validation accuracy, so the winner's reported test accuracy is not
flattered by having been picked on the same clips. Pure numbers: the plan
and its runs in, the numbers out (`study.reporting.answer_text` words them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from study.analysis import blocked_answer, decision_rules, simultaneous
from study.analysis import race as race_rules
from study.design import Arm, Plan, Run

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Comparison:
    """One comparison whose interval the seeds rule watches."""

    key: str  # "λ effect", "dropout effect", "race: trial=7 vs best"
    half_width: float  # of its 95 % interval; inf while it has none
    arms: tuple[str, ...]  # the arms more seeds would go to
    seeds: int  # the fewest seeds among those arms


@dataclass(frozen=True)
class Decisive:
    curve: simultaneous.CurveBand | None  # test accuracy at each λ, band simultaneous
    curve_lambdas: dict[str, float]  # arm → its λ, in λ order
    effects: tuple[simultaneous.Effect, ...]  # λ, dropout, hidden (those the plan measures)
    ranking: simultaneous.Ranking | None
    race: decision_rules.RaceRound | None  # on validation accuracy, over the arms still in the race
    winner: str | None  # the arm with the highest replicated mean (validation)
    curse: decision_rules.WinnersCurse | None  # the search's best single run vs its replicates
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    labels: dict[str, str] = field(default_factory=dict)  # arm → its label, for the words
    choice: race_rules.Choice | None = None  # the race's end: the configuration to use and the rule
    spread_note: str = ""  # the arms scatter unequally: what the intervals did about it

    def effect(self, name: str) -> simultaneous.Effect | None:
        return next((e for e in self.effects if e.name == name), None)

    def as_dict(self) -> dict[str, object]:
        return {"curve": None if self.curve is None else {
                    **self.curve.as_dict(), "lambdas": self.curve_lambdas},
                "effects": [e.as_dict() for e in self.effects],
                "ranking": None if self.ranking is None else self.ranking.as_dict(),
                "race": None if self.race is None else self.race.as_dict(),
                "winner": self.winner,
                "choice": None if self.choice is None else {
                    "arm": self.choice.arm, "leader": self.choice.leader,
                    "tied": list(self.choice.tied), "rule": self.choice.rule},
                "spread_note": self.spread_note,
                "winners_curse": None if self.curse is None else self.curse.as_dict(),
                "comparisons": [{"key": c.key, "half_width": c.half_width, "arms": list(c.arms),
                                 "seeds": c.seeds} for c in self.comparisons]}


def accuracies(runs: Sequence[Run], metric: str) -> dict[str, dict[int, float]]:
    """arm → seed → accuracy ("test", "val" or "holdout")."""
    table: dict[str, dict[int, float]] = {}
    for run in runs:
        value = {"test": run.test_accuracy, "val": run.val_accuracy,
                 "holdout": run.holdout_accuracy}[metric]
        if value is not None:
            table.setdefault(run.arm, {})[run.seed] = float(value)
    return table


def curve_arms(plan: Plan) -> list[Arm]:
    """The λ curve: the best configuration and its λ arms (same dropout and hidden), by λ."""
    best = plan.arm("best")
    return sorted((a for a in plan.arms if a.key == "best" or (
        a.factor == "λ" and a.dropout == best.dropout and a.hidden == best.hidden)),
        key=lambda a: a.lam)


def _width(low: float, high: float) -> float:
    return math.inf if math.isnan(low) or math.isnan(high) else (high - low) / 2.0


def _comparisons(plan: Plan, widths: Mapping[str, tuple[float, tuple[str, ...]]],
                 race: decision_rules.RaceRound | None) -> list[Comparison]:
    """Each effect (the arms of its grid) and each race comparison of a survivor with the
    leader, with the half-width of its simultaneous interval."""
    found = [Comparison(f"{name} effect", width, arms, min(plan.seeds_of(a) for a in arms))
             for name, (width, arms) in widths.items() if arms]
    if race is not None:
        for c in race.comparisons:
            if c.arm in race.survivors and c.arm != race.leader:
                arms = (race.leader, c.arm)
                found.append(Comparison(f"race: {c.arm} vs {race.leader}", _width(c.low, c.high),
                                        arms, min(plan.seeds_of(a) for a in arms)))
    return found


def decide(plan: Plan, runs: Sequence[Run], *, race_rounds: int = 1,
           eliminated: Sequence[str] = (), metric: str = "test") -> Decisive:
    """The numbers of `plan` so far: the curve and the effects on `metric` ("test", or
    "holdout"), the race on validation accuracy. `eliminated` arms stay out of the race (they
    left it in an earlier round); `race_rounds` spreads the race's α over the looks it may take;
    once the plan is done, leaders the race cannot tell apart are resolved by the tie rule."""
    test, val = accuracies(runs, metric), accuracies(runs, "val")
    curve_of = [a for a in curve_arms(plan) if test.get(a.key)]
    numbers = blocked_answer.effect_numbers(plan, curve_of, test, CONFIDENCE)
    raced = blocked_answer.race_numbers(plan, val, looks=race_rounds, eliminated=eliminated,
                                        last=plan.done is not None, confidence=CONFIDENCE)
    race = raced.round if raced is not None else None
    choice = raced.choice if raced is not None else None
    winner = choice.arm if choice is not None else (race.leader if race is not None else None)
    best = plan.arm("best")
    curse = None
    if best.search_value is not None and val.get("best"):
        curse = decision_rules.winners_curse(best.search_value, val["best"], CONFIDENCE)
    lambdas = {a.key: a.lam for a in curve_of}
    return Decisive(curve=numbers.curve, curve_lambdas=lambdas, effects=numbers.effects,
                    ranking=numbers.ranking, race=race, winner=winner, curse=curse,
                    comparisons=tuple(_comparisons(plan, numbers.widths, race)),
                    labels={a.key: a.label for a in plan.arms}, choice=choice,
                    spread_note=numbers.spread_note)
