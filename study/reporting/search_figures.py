"""The search phase's figures: accuracy against λ, λ × dropout, λ × hidden size, the learning
curves of the best trial and the best λ = 0 trial, accuracy against training time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives import effective_lambda
from study.reporting.drawing import ZERO_LABEL, FigureSpec, Trace, lambda_x


@dataclass(frozen=True)
class _Row:
    number: int
    lam: float
    dropout: float | None
    hidden: float | None
    val: float
    test: float | None
    seconds: float | None


def _rows(trials: Sequence[FrozenTrial]) -> list[_Row]:
    rows = []
    for t in trials:
        lam = effective_lambda(t)
        if lam is None or t.value is None:
            continue
        test, seconds = t.user_attrs.get("test_accuracy"), t.user_attrs.get("seconds")
        rows.append(_Row(t.number, lam, t.params.get("dropout"), t.params.get("hidden"),
                         float(t.value), None if test is None else float(test),
                         None if seconds is None else float(seconds)))
    return rows


def _zero_x(rows: Sequence[_Row]) -> float:
    positive = [r.lam for r in rows if r.lam > 0]
    return min(min(positive, default=0.01), 0.01) / math.sqrt(10.0)


def _hover(r: _Row) -> str:
    return (f"trial {r.number}<br>λ = {r.lam:.3g}<br>dropout = {r.dropout}<br>"
            f"hidden = {r.hidden}<br>val = {r.val:.4f}<br>test = {r.test}")


def accuracy_vs_lambda(rows: Sequence[_Row]) -> FigureSpec:
    zero_x = _zero_x(rows)
    traces = []
    for arm, symbol, keep in (("λ > 0", "circle", lambda r: r.lam > 0),
                              (ZERO_LABEL, "diamond", lambda r: r.lam == 0)):
        sel = [r for r in rows if keep(r)]
        if not sel:
            continue
        traces.append(Trace(f"validation, {arm}", [lambda_x(r.lam, zero_x) for r in sel],
                            [r.val for r in sel], symbol=symbol, text=[_hover(r) for r in sel]))
        tested = [r for r in sel if r.test is not None]
        if tested:
            traces.append(Trace(f"test, {arm}", [lambda_x(r.lam, zero_x) for r in tested],
                                [r.test for r in tested], symbol=f"{symbol}-open",
                                text=[_hover(r) for r in tested]))
    return FigureSpec("accuracy_vs_lambda", "Accuracy against λ (complete trials)", "λ",
                      "accuracy", traces, lambda_axis=zero_x)


def lambda_interaction(rows: Sequence[_Row], other: str) -> FigureSpec:
    zero_x = _zero_x(rows)
    sel = [r for r in rows if getattr(r, other) is not None]
    traces = []
    for arm, symbol, keep in (("λ > 0", "circle", lambda r: r.lam > 0),
                              (ZERO_LABEL, "diamond", lambda r: r.lam == 0)):
        part = [r for r in sel if keep(r)]
        if part:
            traces.append(Trace(arm, [lambda_x(r.lam, zero_x) for r in part],
                                [float(getattr(r, other)) for r in part], symbol=symbol,
                                color=[r.val for r in part], text=[_hover(r) for r in part]))
    label = "hidden size" if other == "hidden" else other
    return FigureSpec(f"lambda_x_{other}", f"λ × {label} (colour: validation accuracy)", "λ",
                      label, traces, lambda_axis=zero_x, color_label="val accuracy")


def _curve(trial: FrozenTrial) -> list[float]:
    curve = trial.user_attrs.get("val_curve")
    if curve:
        return [float(v) for v in curve]
    return [float(trial.intermediate_values[k]) for k in sorted(trial.intermediate_values)]


def learning_curves(best: FrozenTrial | None, baseline: FrozenTrial | None) -> FigureSpec:
    traces = []
    for label, trial in (("best trial", best), ("best λ = 0 trial", baseline)):
        if trial is None:
            continue
        curve = _curve(trial)
        lam = effective_lambda(trial)
        traces.append(Trace(f"{label} #{trial.number} (λ = {lam:.3g})",
                            list(range(1, len(curve) + 1)), curve, lines=True))
    return FigureSpec("learning_curves", "Validation accuracy per epoch", "epoch",
                      "validation accuracy", traces)


def accuracy_vs_cost(rows: Sequence[_Row]) -> FigureSpec:
    traces = []
    for arm, symbol, keep in (("λ > 0", "circle", lambda r: r.lam > 0),
                              (ZERO_LABEL, "diamond", lambda r: r.lam == 0)):
        part = [r for r in rows if keep(r) and r.seconds is not None]
        if part:
            traces.append(Trace(arm, [r.seconds for r in part], [r.val for r in part],
                                symbol=symbol, text=[_hover(r) for r in part]))
    return FigureSpec("accuracy_vs_cost", "Validation accuracy against training time",
                      "seconds per trial", "validation accuracy", traces)


def report_figures(study: optuna.Study, best: FrozenTrial | None,
                   baseline: FrozenTrial | None) -> list[FigureSpec]:
    """Every figure of the report, from the study's COMPLETE trials."""
    rows = _rows(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return [accuracy_vs_lambda(rows), lambda_interaction(rows, "dropout"),
            lambda_interaction(rows, "hidden"), learning_curves(best, baseline),
            accuracy_vs_cost(rows)]


class LearningCurvePNGs:
    """Small PNGs of single trials' validation curves (trial artifacts). One matplotlib figure
    is reused for all trials: a study has hundreds, and building a figure each time is slow."""

    def __init__(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self._plt = plt
        self.fig, self.ax = plt.subplots(figsize=(5.0, 3.2), dpi=80)
        self.fig.subplots_adjust(left=0.14, right=0.97, top=0.88, bottom=0.16)
        (self.line,) = self.ax.plot([], [], marker="o", markersize=3)
        self.ax.set(xlabel="epoch", ylabel="validation accuracy")
        self.ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        self.ax.grid(alpha=0.3)

    def write(self, trial: FrozenTrial, path: Path) -> bool:
        """Draw `trial`'s curve to `path`; False (nothing written) if it has none."""
        curve = _curve(trial)
        if not curve:
            return False
        lam = effective_lambda(trial)
        lam_text = "?" if lam is None else f"{lam:.3g}"
        self.line.set_data(range(1, len(curve) + 1), curve)
        self.ax.relim()
        self.ax.autoscale_view()
        self.ax.set_title(f"Trial {trial.number} (λ = {lam_text}, {trial.state.name.lower()})")
        self.fig.savefig(path)
        return True

    def close(self) -> None:
        self._plt.close(self.fig)
