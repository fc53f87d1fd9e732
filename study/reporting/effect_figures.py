"""The answer's figures (`study.analysis.effects`): the λ arms' mean test accuracy with its 95 %
t-interval as error bars (a dose-response on the λ axis), and the paired
differences (arm − best, the λ effect, the reference's claim) with their t-intervals and their
bootstrap intervals over seeds and test clips."""

from __future__ import annotations

import math
from collections.abc import Sequence

from study.analysis.effects import Answer, Comparison, SplitAnswer
from study.reporting.drawing import FigureSpec, Trace, lambda_positions, lambda_x


def _finite_or_nan(value: float | None) -> float:
    return math.nan if value is None or not math.isfinite(value) else value


def _points(values: Sequence[float]) -> list[float]:
    return [_finite_or_nan(v) * 100.0 for v in values]


def _arm_hover(split: SplitAnswer, key: str) -> str:
    summary = next(s for s in split.arms if s.arm.key == key)
    ci = summary.accuracy
    if ci is None:
        return f"{summary.arm.label}<br>no finished seed"
    interval = "no interval (1 seed)" if ci.n < 2 else \
        f"95 % CI {ci.low * 100:.1f} … {ci.high * 100:.1f} %"
    return f"{summary.arm.label}<br>{split.split}: {ci.mean * 100:.1f} %, {interval}, n = {ci.n}"


# Splits and side-by-side series are drawn slightly apart so their error bars do not overlap.
_SPLIT_SHIFT = {"test": 0.0, "holdout": 0.025}  # decades on the λ axis
_SPLIT_SYMBOL = {"test": "circle", "holdout": "diamond"}


def dose_response(answer: Answer) -> FigureSpec:
    """The λ arms' mean accuracy ± its 95 % t-interval along a log λ axis (the best's dropout
    and hidden size). Only they: an arm that changes dropout, hidden size or the whole
    configuration has no place on the λ axis (its difference from the best is in
    `effect_differences`, its mean in the report's arms table)."""
    arms = [a for a in answer.plan.arms if a.factor in (None, "λ")]
    zero_x, ticks, labels = lambda_positions([a.lam for a in arms])
    best = next(a for a in arms if a.key == "best")
    traces = []
    for split in answer.splits:
        shift = 10.0 ** _SPLIT_SHIFT[split.split]
        family = sorted((s for s in split.arms if s.accuracy is not None
                         and s.arm.factor in (None, "λ")), key=lambda s: s.arm.lam)
        if family:
            traces.append(Trace(
                f"{split.split}: λ arms (dropout {best.dropout:.3g}, hidden {best.hidden})",
                [lambda_x(s.arm.lam, zero_x) * shift for s in family],
                _points([s.accuracy.mean for s in family]), lines=True,
                symbol=_SPLIT_SYMBOL[split.split],
                low=_points([s.accuracy.low for s in family]),
                high=_points([s.accuracy.high for s in family]),
                text=[_arm_hover(split, s.arm.key) for s in family]))
    return FigureSpec("effects_lambda", "Replicates: mean accuracy of the λ arms "
                      "(95 % t-interval)", "λ", "accuracy, %", traces, lambda_axis=zero_x,
                      x_ticks=(ticks, labels))


def comparison_labels(comparisons: Sequence[Comparison]) -> list[str]:
    """One label per comparison, none twice: "a − b" for an arm that changes one factor of the
    best, "title: a − b" for the named effects, and the arm's own label ("trial 0: λ = 0,
    dropout …, hidden …") for an arm that changes the whole configuration or would read like
    another (a configuration arm can have the λ of a λ arm)."""
    def plain(c: Comparison) -> str:
        return c.text.replace(" vs ", " − ") if c.key.endswith(" vs best") else \
            f"{c.title}: {c.text.replace(' vs ', ' − ')}"

    def own(c: Comparison) -> str:  # "trial 26 − best\n(λ = 4.34, dropout 0.334, hidden 96)"
        head, _, rest = c.title.partition(": ")
        return f"{head} − best" + (f"\n({rest})" if rest else "")

    labels = [own(c) if c.key.startswith("trial=") else plain(c) for c in comparisons]
    return [own(c) if labels.count(label) > 1 and c.key.endswith(" vs best") else label
            for c, label in zip(comparisons, labels, strict=True)]


def effect_differences(answer: Answer) -> FigureSpec:
    """The paired differences with their t-interval and, beside it, their bootstrap interval."""
    keys = [c.key for c in answer.test.comparisons]
    labels = comparison_labels(answer.test.comparisons)
    label_of = dict(zip(keys, labels, strict=True))
    series = [(split, kind) for split in answer.splits for kind in ("t", "bootstrap")]
    width = 0.6 / max(len(series), 1)
    traces = []
    for i, (split, kind) in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        xs, ys, lows, highs, text = [], [], [], [], []
        for position, key in enumerate(keys):
            c = split.comparison(key)
            if c is None or c.diff is None:
                continue
            interval = c.diff if kind == "t" else c.bootstrap
            if interval is None:
                continue
            xs.append(position + offset)
            ys.append(c.diff.mean if kind == "t" else c.bootstrap.estimate)
            lows.append(interval.low)
            highs.append(interval.high)
            text.append(f"{label_of[key]}<br>{split.split}: {c.verdict}")
        if xs:
            name = "paired t-interval" if kind == "t" else "bootstrap over seeds and clips"
            traces.append(Trace(f"{split.split}: {name}", xs, _points(ys),
                                symbol=_SPLIT_SYMBOL[split.split] + ("" if kind == "t" else "-open"),
                                low=_points(lows), high=_points(highs), text=text))
    return FigureSpec("effects_differences", "Replicates: paired differences (95 % intervals)",
                      "", "difference, accuracy points", traces,
                      x_ticks=(list(map(float, range(len(keys)))), labels), zero_line=True)


def effect_figures(answer: Answer) -> list[FigureSpec]:
    """The arms' figures: the dose-response of the arms and the paired differences."""
    return [dose_response(answer), effect_differences(answer)]


