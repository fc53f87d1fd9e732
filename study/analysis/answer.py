"""The decisive answer of a replicate plan: the λ curve with its simultaneous band, the three
effects on one scale and their ranking, the race for the best configuration and its winner, a
cheaper alternative, the winner's curse of the search, and which comparisons are still wider
than the target (where the next round's seeds go).

Effects and the curve are measured on test accuracy (generalization is the claim); the race, the
winner and the cheaper alternative are decided on validation accuracy, so the winner's reported
test accuracy is not flattered by having been picked on the same clips. Pure numbers: the plan
and its runs in, the numbers out (`study.reporting.answer_text` words them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from study.analysis import decision_rules, simultaneous
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
    cheaper: decision_rules.CheaperAlternative | None
    curse: decision_rules.WinnersCurse | None  # the search's best single run vs its replicates
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    labels: dict[str, str] = field(default_factory=dict)  # arm → its label, for the words

    def effect(self, name: str) -> simultaneous.Effect | None:
        return next((e for e in self.effects if e.name == name), None)

    def as_dict(self) -> dict[str, object]:
        return {"curve": None if self.curve is None else {
                    **self.curve.as_dict(), "lambdas": self.curve_lambdas},
                "effects": [e.as_dict() for e in self.effects],
                "ranking": None if self.ranking is None else self.ranking.as_dict(),
                "race": None if self.race is None else self.race.as_dict(),
                "winner": self.winner,
                "cheaper_alternative": None if self.cheaper is None else self.cheaper.as_dict(),
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


def _effects(plan: Plan, test: Mapping[str, Mapping[int, float]]) -> list[simultaneous.Effect]:
    effects = []
    curve = {a.key: test[a.key] for a in curve_arms(plan) if test.get(a.key)}
    zero = next((a.key for a in curve_arms(plan) if a.lam == 0 and a.key in curve), None)
    if zero is not None and len(curve) > 1:
        effects.append(simultaneous.best_versus_control(curve, zero, name="λ",
                                                        confidence=CONFIDENCE))
    for factor in ("dropout", "hidden"):
        ends = {a.key: test[a.key] for a in plan.arms if a.factor == factor and test.get(a.key)}
        if ends and test.get("best"):
            effects.append(simultaneous.factor_effect(factor, test["best"], ends,
                                                      confidence=CONFIDENCE))
    return [e for e in effects if e.n]


def _width(low: float, high: float) -> float:
    return math.inf if math.isnan(low) or math.isnan(high) else (high - low) / 2.0


def _comparisons(plan: Plan, effects: Sequence[simultaneous.Effect],
                 race: decision_rules.RaceRound | None) -> list[Comparison]:
    """Each effect (its arms that could still be its maximum, and its reference) and each race
    comparison of a survivor with the leader."""
    found = []
    for effect in effects:
        reference = "best" if effect.name != "λ" else next(
            a.key for a in curve_arms(plan) if a.lam == 0)
        could = [c.arm for c in effect.candidates
                 if math.isnan(c.high) or math.isnan(effect.low) or c.high >= effect.low]
        arms = tuple(dict.fromkeys([reference, *could]))
        found.append(Comparison(f"{effect.name} effect", _width(effect.low, effect.high), arms,
                                min(plan.seeds_of(a) for a in arms)))
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
    left it in an earlier round); `race_rounds` spreads the race's α over the rounds at most."""
    test, val = accuracies(runs, metric), accuracies(runs, "val")
    effects = _effects(plan, test)
    ranking = simultaneous.rank_effects(effects, CONFIDENCE) if len(effects) > 1 else None
    curve = {a.key: test[a.key] for a in curve_arms(plan) if test.get(a.key)}
    band = simultaneous.curve_band(curve, CONFIDENCE) if curve else None
    lambdas = {a.key: a.lam for a in curve_arms(plan) if a.key in curve}
    racing = {key: values for key, values in val.items() if key not in eliminated and values}
    race = decision_rules.race_round(racing, decision_rules.race_confidence(CONFIDENCE, race_rounds)) \
        if racing else None
    winner = race.leader if race is not None else None
    cheaper = None
    if winner is not None and len(racing) > 1:
        hidden = {a.key: a.hidden for a in plan.arms if a.key in racing}
        cheaper = decision_rules.cheaper_alternative(racing, hidden, winner, confidence=CONFIDENCE)
    best = plan.arm("best")
    curse = None
    if best.search_value is not None and val.get("best"):
        curse = decision_rules.winners_curse(best.search_value, val["best"], CONFIDENCE)
    return Decisive(curve=band, curve_lambdas=lambdas, effects=tuple(effects), ranking=ranking,
                    race=race, winner=winner, cheaper=cheaper, curse=curse,
                    comparisons=tuple(_comparisons(plan, effects, race)),
                    labels={a.key: a.label for a in plan.arms})
