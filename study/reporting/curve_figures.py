"""The decisive answer's figures: the λ curve (mean test accuracy over seeds with its simultaneous
95 % band of the difference from λ = 0, drawn from λ = 0's mean, on a log λ axis with λ = 0 set apart and no line across the axis break) and a forest
plot of the three effects on one axis (accuracy points, with their intervals)."""

from __future__ import annotations

import math

from study.analysis.answer import Decisive
from study.analysis.effects import Answer
from study.reporting.drawing import FigureSpec, Trace, lambda_positions


def _pct(values: list[float]) -> list[float]:
    return [v * 100.0 if math.isfinite(v) else math.nan for v in values]


def _curve_traces(decisive: Decisive, name: str, zero_x: float, symbol: str) -> list[Trace]:
    band = decisive.curve
    if band is None:
        return []
    points = [(decisive.curve_lambdas[p.arm], p) for p in band.points]
    positive = [(lam, p) for lam, p in points if lam > 0]
    zero = [p for lam, p in points if lam == 0]

    def hover(lam: float, p) -> str:
        lam_text = "0" if lam == 0 else f"{lam:.3g}"
        return (f"λ = {lam_text}<br>{name}: {p.mean * 100:.1f} %, band {p.low * 100:.1f} … "
                f"{p.high * 100:.1f} %, n = {p.n}")

    traces = []
    if positive:
        traces.append(Trace(f"{name}: λ > 0 (band: simultaneous 95 %)",
                            [lam for lam, _ in positive], _pct([p.mean for _, p in positive]),
                            lines=True, symbol=symbol, band=True,
                            low=_pct([p.low for _, p in positive]),
                            high=_pct([p.high for _, p in positive]),
                            text=[hover(lam, p) for lam, p in positive]))
    if zero:
        # λ = 0 sits apart, left of the axis break, with its own interval and no line to the rest.
        traces.append(Trace(f"{name}: λ = 0", [zero_x], _pct([zero[0].mean]), symbol=symbol,
                            low=_pct([zero[0].low]), high=_pct([zero[0].high]),
                            text=[hover(0.0, zero[0])]))
    return traces


def lambda_curve(answer: Answer) -> FigureSpec:
    lams = list(answer.decisive.curve_lambdas.values()) or [0.0]
    zero_x, ticks, labels = lambda_positions(lams)
    traces = _curve_traces(answer.decisive, "test", zero_x, "circle")
    if answer.holdout is not None:
        traces += _curve_traces(answer.holdout, "holdout", zero_x, "diamond")
    best = answer.plan.arm("best")
    return FigureSpec("lambda_curve", f"The λ curve at dropout {best.dropout:.3g}, hidden "
                      f"{best.hidden} (mean over seeds; band: the difference from λ = 0, "
                      f"simultaneous 95 %, drawn from λ = 0's mean)", "λ",
                      "accuracy, %", traces, lambda_axis=zero_x, x_ticks=(ticks, labels))


def effects_forest(answer: Answer) -> FigureSpec:
    """λ, dropout and hidden size on one axis: each effect with its interval."""
    names = [e.name for e in answer.decisive.effects]
    traces = []
    for split, decisive, shift, symbol in (("test", answer.decisive, 0.0, "circle"),
                                           ("holdout", answer.holdout, 0.15, "diamond")):
        if decisive is None:
            continue
        found = [(names.index(e.name), e) for e in decisive.effects if e.name in names]
        traces.append(Trace(f"{split} accuracy", [i + shift for i, _ in found],
                            _pct([e.estimate for _, e in found]), symbol=symbol,
                            low=_pct([e.low for _, e in found]),
                            high=_pct([e.high for _, e in found]),
                            text=[f"{e.format()} points, {e.method}, n = {e.n}"
                                  for _, e in found]))
    return FigureSpec("effects_forest", "The three effects by one measure (λ: the λ gain; "
                      "dropout, hidden: their grid's spread; one simultaneous 95 % family)", "", "accuracy points", traces,
                      x_ticks=(list(map(float, range(len(names)))), names), zero_line=True)


def decisive_figures(answer: Answer) -> list[FigureSpec]:
    return [lambda_curve(answer), effects_forest(answer)]
