"""The service's answer in numbers (`study.reporting.report_text` words them), from paired replicate
runs: the decisive part (`study.analysis.answer`: the λ curve, the three effects by one measure,
the race and its winner), and the table of arms.

Per arm: mean test accuracy ± a 95 % t-interval over seeds. Per arm against the best
configuration: the paired difference (arm − best) with its t-interval and paired t-test, Holm-
corrected across the arms, with "the reference's claim" (λ = 10 against λ = 0) in the same family. Next to each t-interval, a paired bootstrap
over seeds and test clips: the same test clips judge every run, so their sampling noise is part of
the uncertainty too. The same numbers are computed on the holdout source when the study names one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from study.analysis import statistics
from study.analysis.answer import Decisive, decide
from study.design import Arm, Plan, Run

SPLITS = ("test", "holdout")


@dataclass(frozen=True)
class ArmSummary:
    arm: Arm
    n: int  # finished seeds
    accuracy: statistics.MeanCI | None  # None: no finished seed
    seconds: float  # mean per run

    def as_dict(self) -> dict[str, object]:
        return {"arm": self.arm.key, "label": self.arm.label, "factor": self.arm.factor,
                "lambda": self.arm.lam, "dropout": self.arm.dropout, "hidden": self.arm.hidden,
                "n": self.n, "seconds_per_run": round(self.seconds, 2),
                "accuracy": None if self.accuracy is None else self.accuracy.as_dict()}


@dataclass(frozen=True)
class Comparison:
    key: str  # "lambda_effect", "reference_claim", or "<arm> vs best"
    title: str  # "λ effect", "reference's claim", "dropout 0.3 (baseline)"
    a: str  # arm keys: the difference is a − b, per seed
    b: str
    text: str  # "λ = 3.16 vs λ = 0"
    diff: statistics.PairedDifference | None  # None: fewer than one paired seed
    p_adjusted: float = float("nan")  # Holm, over every comparison of the same split
    bootstrap: statistics.BootstrapInterval | None = None
    verdict: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "title": self.title, "a": self.a, "b": self.b,
                "comparison": self.text, "verdict": self.verdict,
                "difference": None if self.diff is None else self.diff.as_dict(),
                "p_holm": self.p_adjusted,
                "bootstrap": None if self.bootstrap is None else self.bootstrap.as_dict()}


@dataclass(frozen=True)
class SplitAnswer:
    split: str  # "test" or "holdout"
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]

    def comparison(self, key: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.key == key), None)

    def as_dict(self) -> dict[str, object]:
        return {"split": self.split, "arms": [a.as_dict() for a in self.arms],
                "comparisons": [c.as_dict() for c in self.comparisons]}


@dataclass(frozen=True)
class Answer:
    plan: Plan
    finished: int  # replicate runs of this plan that finished
    planned: int
    splits: tuple[SplitAnswer, ...]
    decisive: Decisive
    holdout: Decisive | None = None  # the effects on the holdout source, if the study names one
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def test(self) -> SplitAnswer:
        return self.splits[0]

    @property
    def winner(self) -> Arm | None:
        key = self.decisive.winner
        return None if key is None else self.plan.arm(key)

    def summary(self, key: str, split: str = "test") -> ArmSummary | None:
        found = [s for part in self.splits if part.split == split for s in part.arms]
        return next((s for s in found if s.arm.key == key), None)

    def as_dict(self) -> dict[str, object]:
        winner = self.winner
        return {"source_trial": self.plan.source_trial, "seeds_planned": self.plan.seeds,
                "finished": self.finished, "planned": self.planned,
                "rounds": [r.as_dict() for r in self.plan.rounds], "done": self.plan.done,
                "winner": None if winner is None else {
                    "arm": winner.key, "label": winner.label, "origin": winner.origin,
                    "lambda": winner.lam, "dropout": winner.dropout, "hidden": winner.hidden},
                "decisive": self.decisive.as_dict(),
                "holdout_effects": None if self.holdout is None else [
                    e.as_dict() for e in self.holdout.effects],
                "notes": list(self.notes), "splits": [s.as_dict() for s in self.splits]}


def _values(runs: list[Run], split: str) -> dict[str, dict[int, tuple[float, np.ndarray | None]]]:
    """arm → seed → (accuracy, per-clip correctness) on `split`."""
    table: dict[str, dict[int, tuple[float, np.ndarray | None]]] = {}
    for run in runs:
        accuracy = run.test_accuracy if split == "test" else run.holdout_accuracy
        correct = run.test_correct if split == "test" else run.holdout_correct
        if accuracy is not None:
            table.setdefault(run.arm, {})[run.seed] = (accuracy, correct)
    return table


def _compare(key: str, title: str, a: Arm, b: Arm, text: str,
             table: dict[str, dict[int, tuple[float, np.ndarray | None]]],
             bootstrap_seed: int) -> Comparison:
    seeds = sorted(set(table.get(a.key, {})) & set(table.get(b.key, {})))
    if not seeds:
        return Comparison(key, title, a.key, b.key, text, None,
                          verdict=f"{text}: no paired seed finished yet")
    diff = statistics.paired_difference([table[a.key][s][0] for s in seeds],
                                        [table[b.key][s][0] for s in seeds])
    boot = None
    clips_a = [table[a.key][s][1] for s in seeds]
    clips_b = [table[b.key][s][1] for s in seeds]
    if all(c is not None for c in clips_a + clips_b) and len({len(c) for c in clips_a}) == 1:
        boot = statistics.paired_bootstrap(np.stack(clips_a), np.stack(clips_b),
                                           seed=bootstrap_seed)
    return Comparison(key, title, a.key, b.key, text, diff, bootstrap=boot)


def _value(arm: Arm, factor: str | None) -> str:
    """How an arm differs, in the words of one factor: "λ = 0", "dropout 0.3", "hidden 64"."""
    if factor == "dropout":
        return f"dropout {arm.dropout:.3g}"
    if factor == "hidden":
        return f"hidden {arm.hidden}"
    return "λ = 0" if arm.lam == 0 else f"λ = {arm.lam:.3g}"


def _pairs(plan: Plan) -> list[tuple[str, str, Arm, Arm]]:
    """(key, title, a, b) of every comparison: each arm − best, then the reference's claim
    (λ = 10 − λ = 0) where it is not one of those already."""
    arms = {arm.key: arm for arm in plan.arms}
    best = arms["best"]
    pairs = [(f"{arm.key} vs best", arm.label, arm, best) for arm in plan.arms if arm is not best]
    zero = next((a for a in plan.arms if a.lam == 0 and a.dropout == best.dropout
                 and a.hidden == best.hidden), None)
    reference = next((a for a in plan.arms if "(reference)" in a.label), None)
    if zero is not None and reference is not None and best not in (reference, zero):
        pairs.append(("reference_claim", "reference's claim", reference, zero))
    return pairs


def _split_answer(plan: Plan, runs: list[Run], split: str, bootstrap_seed: int) -> SplitAnswer:
    table = _values(runs, split)
    summaries = []
    for arm in plan.arms:
        values = table.get(arm.key, {})
        seconds = [r.seconds for r in runs if r.arm == arm.key]
        summaries.append(ArmSummary(arm, len(values), statistics.mean_ci(
            [v[0] for _, v in sorted(values.items())]) if values else None,
            float(np.mean(seconds)) if seconds else 0.0))
    compared = {}
    for key, title, a, b in _pairs(plan):
        factor = a.factor if b.key == "best" else "λ"
        text = f"{_value(a, factor)} vs {_value(b, factor)}"
        compared[key] = _compare(key, title, a, b, text, table, bootstrap_seed)
    # One Holm family: the λ effect and the reference's claim are the same test as an arm's
    # comparison with the best whenever one of their arms is the best (same pairs, sign apart).
    same_test = {key: f"{(c.b if c.a == 'best' else c.a)} vs best" for key, c in compared.items()
                 if "best" in (c.a, c.b) and not key.endswith(" vs best")}
    family = {k: c.diff.p_value for k, c in compared.items() if c.diff and k not in same_test}
    adjusted = statistics.holm(family)
    final = []
    for key, c in compared.items():
        if c.diff is None:
            final.append(c)
            continue
        p = adjusted.get(same_test.get(key, key), float("nan"))
        words = statistics.verdict(c.text, c.diff, p_adjusted=p, bootstrap=c.bootstrap,
                                   clips=f"{split} clips")  # the clips it resampled
        final.append(Comparison(c.key, c.title, c.a, c.b, c.text, c.diff, p, c.bootstrap, words))
    order = {"lambda_effect": 0, "reference_claim": 1}
    final.sort(key=lambda c: order.get(c.key, 2))
    return SplitAnswer(split, tuple(summaries), tuple(final))


def build_answer(plan: Plan, runs: list[Run], *, bootstrap_seed: int = 0) -> Answer:
    """The answer of `plan` from its finished `runs` so far."""
    splits = [_split_answer(plan, runs, "test", bootstrap_seed)]
    holdout = None
    if any(r.holdout_accuracy is not None for r in runs):
        splits.append(_split_answer(plan, runs, "holdout", bootstrap_seed))
        holdout = decide(plan, runs, metric="holdout", eliminated=plan.eliminated)
    planned = plan.runs
    notes = list(plan.notes)
    if plan.seeds == 2:
        notes.append("with 2 seeds a 95 % t-interval spans ±12.7 standard errors (intervals can "
                     "run past 0 or 100 %): use 3 or more seeds for an answer")
    if len(runs) < planned:
        notes.append(f"{len(runs)} of {planned} replicate runs finished: the statistics use the "
                     "seeds finished in both arms of each comparison")
    decisive = decide(plan, runs, race_rounds=race_rounds(plan), eliminated=plan.eliminated)
    return Answer(plan, len(runs), planned, tuple(splits), decisive, holdout, tuple(notes))


def race_rounds(plan: Plan) -> int:
    """Rounds the race may take at most (its α is spread over them): the first, then one per
    K0 more seeds up to the cap."""
    step = max(1, plan.seeds)
    return 1 + max(0, math.ceil((plan.max_seeds - plan.seeds) / step))
