"""The report's figures: one description per figure, drawn twice — interactive plotly (one
self-contained `figures.html`) and matplotlib PNGs for documents.

PNGs come from matplotlib rather than plotly + kaleido because kaleido ≥ 1 needs a Chrome at
run time, which GPU hosts and containers do not have.

λ is drawn on a log axis; λ = 0 trials sit at a labelled position half a decade left of the
smallest λ > 0, so the baseline is visible on the same axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from study.analysis import effective_lambda

ZERO_LABEL = "λ = 0"


@dataclass
class Trace:
    name: str
    x: list[float]
    y: list[float]
    lines: bool = False  # lines (learning curves) instead of markers
    symbol: str = "circle"  # circle, diamond, circle-open, diamond-open
    color: list[float] | None = None  # per-point values shown with a color scale
    text: list[str] = field(default_factory=list)  # hover text


@dataclass
class FigureSpec:
    name: str  # file stem
    title: str
    x_label: str
    y_label: str
    traces: list[Trace]
    lambda_axis: float | None = None  # x is λ (log axis); the value is where λ = 0 is drawn
    color_label: str = ""


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


def _x(lam: float, zero_x: float) -> float:
    return lam if lam > 0 else zero_x


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
        traces.append(Trace(f"validation, {arm}", [_x(r.lam, zero_x) for r in sel],
                            [r.val for r in sel], symbol=symbol, text=[_hover(r) for r in sel]))
        tested = [r for r in sel if r.test is not None]
        if tested:
            traces.append(Trace(f"test, {arm}", [_x(r.lam, zero_x) for r in tested],
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
            traces.append(Trace(arm, [_x(r.lam, zero_x) for r in part],
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


def _lambda_ticks(spec: FigureSpec) -> tuple[list[float], list[str]]:
    xs = [x for t in spec.traces for x in t.x if x > spec.lambda_axis]
    lo = math.floor(math.log10(min(xs, default=0.01)))
    hi = math.ceil(math.log10(max(xs, default=100.0)))
    decades = [10.0**k for k in range(lo, hi + 1)]
    return [spec.lambda_axis, *decades], [ZERO_LABEL, *(f"{d:g}" for d in decades)]


_PLOTLY_SYMBOLS = {"circle": "circle", "diamond": "diamond", "circle-open": "circle-open",
                   "diamond-open": "diamond-open"}


def _color_range(spec: FigureSpec) -> tuple[float, float] | None:
    # One colour scale for every trace, or λ = 0 and λ > 0 points would not be comparable.
    values = [c for t in spec.traces if t.color is not None for c in t.color]
    return (min(values), max(values)) if values else None


def to_plotly(spec: FigureSpec):
    import plotly.graph_objects as go

    fig = go.Figure()
    color_range = _color_range(spec)
    for i, t in enumerate(spec.traces):
        marker: dict = {"symbol": _PLOTLY_SYMBOLS[t.symbol], "size": 9}
        if t.color is not None:
            marker.update(color=t.color, colorscale="Viridis", showscale=i == 0,
                          cmin=color_range[0], cmax=color_range[1],
                          colorbar={"title": {"text": spec.color_label}})
        fig.add_trace(go.Scatter(x=t.x, y=t.y, name=t.name,
                                 mode="lines+markers" if t.lines else "markers", marker=marker,
                                 text=t.text or None,
                                 hovertemplate="%{text}<extra></extra>" if t.text else None))
    fig.update_layout(title={"text": spec.title}, xaxis_title=spec.x_label,
                      yaxis_title=spec.y_label, template="plotly_white",
                      legend={"orientation": "h", "y": -0.2})
    if spec.lambda_axis is not None:
        values, labels = _lambda_ticks(spec)
        fig.update_xaxes(type="log", tickvals=values, ticktext=labels)
        fig.add_vline(x=spec.lambda_axis * math.sqrt(math.sqrt(10.0)), line_dash="dot",
                      line_color="grey")
    return fig


_MPL_MARKERS = {"circle": ("o", True), "diamond": ("D", True), "circle-open": ("o", False),
                "diamond-open": ("D", False)}


def to_png(spec: FigureSpec, path: Path, size: tuple[float, float] = (7.5, 4.8),
           dpi: int = 110) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    scale = None
    color_range = _color_range(spec)
    for i, t in enumerate(spec.traces):
        marker, filled = _MPL_MARKERS[t.symbol]
        color = colors[i % len(colors)]
        if t.lines:
            ax.plot(t.x, t.y, marker="o", markersize=3, label=t.name, color=color)
        elif t.color is not None:
            scale = ax.scatter(t.x, t.y, c=t.color, cmap="viridis", marker=marker,
                               vmin=color_range[0], vmax=color_range[1],
                               edgecolors="black", linewidths=0.4, label=t.name)
        else:
            ax.scatter(t.x, t.y, marker=marker, label=t.name, s=28,
                       facecolors=color if filled else "none", edgecolors=color)
    if scale is not None:
        fig.colorbar(scale, ax=ax, label=spec.color_label)
    if spec.lambda_axis is not None:
        ax.set_xscale("log")
        values, labels = _lambda_ticks(spec)
        ax.set_xticks(values, labels)
        ax.minorticks_off()
        ax.axvline(spec.lambda_axis * math.sqrt(math.sqrt(10.0)), color="grey", linestyle=":")
    ax.set(title=spec.title, xlabel=spec.x_label, ylabel=spec.y_label)
    if spec.name == "learning_curves":
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if spec.traces:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_figures(specs: Sequence[FigureSpec], output_dir: Path,
                  title: str = "Study report") -> list[Path]:
    """One PNG per figure plus one self-contained interactive `figures.html` (plotly.js embedded
    once, so it opens offline). Returns the written paths, HTML last."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written, parts = [], []
    for i, spec in enumerate(specs):
        png = output_dir / f"{spec.name}.png"
        to_png(spec, png)
        written.append(png)
        parts.append(to_plotly(spec).to_html(full_html=False, include_plotlyjs=i == 0,
                                             div_id=spec.name))
    html = output_dir / "figures.html"
    html.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
                    f"</head><body><h1>{title}</h1>{''.join(parts)}</body></html>",
                    encoding="utf-8")
    written.append(html)
    return written


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
