"""The report's figures: one description per figure, drawn twice — interactive plotly (one
self-contained `figures.html`) and matplotlib PNGs for documents.

PNGs come from matplotlib rather than plotly + kaleido because kaleido ≥ 1 needs a Chrome at
run time, which GPU hosts and containers do not have.

λ is drawn on a log axis; λ = 0 trials sit at a labelled position half a decade left of the
smallest λ > 0, so the baseline is visible on the same axis.

The effects figures draw the answer of the replicate phase (`study.effects`): each arm's mean test
accuracy with its 95 % t-interval as error bars (the λ arms as a dose-response on the λ axis), and
the paired differences (arm − best, the λ effect, the reference's claim) with their t-intervals
and their bootstrap intervals over seeds and test clips. Text that ends up in HTML is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from study.analysis import effective_lambda
from study.effects import Answer, Comparison, SplitAnswer

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
    # error bars: each point's interval [low, high] in y units (nan: no interval)
    low: list[float] | None = None
    high: list[float] | None = None


@dataclass
class FigureSpec:
    name: str  # file stem
    title: str
    x_label: str
    y_label: str
    traces: list[Trace]
    lambda_axis: float | None = None  # x is λ (log axis); the value is where λ = 0 is drawn
    color_label: str = ""
    x_ticks: tuple[list[float], list[str]] | None = None  # positions and labels, if not numbers
    zero_line: bool = False  # a horizontal line at y = 0 (differences)


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


def _lambda_positions(lams: Sequence[float]) -> tuple[float, list[float], list[str]]:
    """Where λ = 0 is drawn (one decade below the lowest decade of the λs), and the ticks."""
    positive = [lam for lam in lams if lam > 0]
    lo = math.floor(math.log10(min(positive))) if positive else 0
    hi = math.ceil(math.log10(max(positive))) if positive else 1
    zero_x = 10.0 ** (lo - 1)
    decades = [10.0**k for k in range(lo, hi + 1)]
    return zero_x, [zero_x, *decades], [ZERO_LABEL, *(f"{d:g}" for d in decades)]


# Splits and side-by-side series are drawn slightly apart so their error bars do not overlap.
_SPLIT_SHIFT = {"test": 0.0, "holdout": 0.025}  # decades on the λ axis
_SPLIT_SYMBOL = {"test": "circle", "holdout": "diamond"}


def dose_response(answer: Answer) -> FigureSpec:
    """Each arm's mean accuracy ± its 95 % t-interval; the λ arms (the best's dropout and hidden
    size) along a log λ axis, the dropout and hidden-size arms at the best's λ."""
    arms = answer.plan.arms
    zero_x, ticks, labels = _lambda_positions([a.lam for a in arms])
    best = next(a for a in arms if a.key == "best")
    traces = []
    for split in answer.splits:
        shift = 10.0 ** _SPLIT_SHIFT[split.split]
        done = [s for s in split.arms if s.accuracy is not None]
        family = sorted((s for s in done if s.arm.factor in (None, "λ")), key=lambda s: s.arm.lam)
        if family:
            traces.append(Trace(
                f"{split.split}: λ arms (dropout {best.dropout:.3g}, hidden {best.hidden})",
                [_x(s.arm.lam, zero_x) * shift for s in family],
                _points([s.accuracy.mean for s in family]), lines=True,
                symbol=_SPLIT_SYMBOL[split.split],
                low=_points([s.accuracy.low for s in family]),
                high=_points([s.accuracy.high for s in family]),
                text=[_arm_hover(split, s.arm.key) for s in family]))
        for k, s in enumerate(x for x in done if x.arm.factor not in (None, "λ")):
            # beside the best's λ, alternating left and right
            x = _x(best.lam, zero_x) * shift * 10.0 ** (0.07 * (k // 2 + 1) * (-1) ** k)
            traces.append(Trace(f"{split.split}: {s.arm.label}", [x], _points([s.accuracy.mean]),
                                symbol=f"{_SPLIT_SYMBOL[split.split]}-open",
                                low=_points([s.accuracy.low]), high=_points([s.accuracy.high]),
                                text=[_arm_hover(split, s.arm.key)]))
    return FigureSpec("effects_lambda", "Replicates: mean accuracy per arm (95 % t-interval)",
                      "λ", "accuracy, %", traces, lambda_axis=zero_x, x_ticks=(ticks, labels))


def _comparison_label(c: Comparison) -> str:
    return c.text.replace(" vs ", " − ") if c.key.endswith(" vs best") else \
        f"{c.title}: {c.text.replace(' vs ', ' − ')}"


def effect_differences(answer: Answer) -> FigureSpec:
    """The paired differences with their t-interval and, beside it, their bootstrap interval."""
    keys = [c.key for c in answer.test.comparisons]
    labels = [_comparison_label(c) for c in answer.test.comparisons]
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
            text.append(f"{_comparison_label(c)}<br>{split.split}: {c.verdict}")
        if xs:
            name = "paired t-interval" if kind == "t" else "bootstrap over seeds and clips"
            traces.append(Trace(f"{split.split}: {name}", xs, _points(ys),
                                symbol=_SPLIT_SYMBOL[split.split] + ("" if kind == "t" else "-open"),
                                low=_points(lows), high=_points(highs), text=text))
    return FigureSpec("effects_differences", "Replicates: paired differences (95 % intervals)",
                      "", "difference, accuracy points", traces,
                      x_ticks=(list(map(float, range(len(keys)))), labels), zero_line=True)


def effect_figures(answer: Answer) -> list[FigureSpec]:
    """The answer's figures: the dose-response of the arms and the paired differences."""
    return [dose_response(answer), effect_differences(answer)]


def report_figures(study: optuna.Study, best: FrozenTrial | None,
                   baseline: FrozenTrial | None) -> list[FigureSpec]:
    """Every figure of the report, from the study's COMPLETE trials."""
    rows = _rows(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return [accuracy_vs_lambda(rows), lambda_interaction(rows, "dropout"),
            lambda_interaction(rows, "hidden"), learning_curves(best, baseline),
            accuracy_vs_cost(rows)]


def _lambda_ticks(spec: FigureSpec) -> tuple[list[float], list[str]]:
    if spec.x_ticks is not None:
        return spec.x_ticks
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


def _error_lengths(t: Trace) -> tuple[list[float], list[float]] | None:
    """(below, above) each point: the lengths of its error bar (0 where there is no interval)."""
    if t.low is None or t.high is None:
        return None
    below = [y - lo if math.isfinite(y - lo) else 0.0 for y, lo in zip(t.y, t.low, strict=True)]
    above = [hi - y if math.isfinite(hi - y) else 0.0 for y, hi in zip(t.y, t.high, strict=True)]
    return below, above


def _html(text: str) -> str:
    # Text shown in HTML (and in plotly's HTML-like labels), never markup.
    return html.escape(text, quote=False)


def _hover_html(text: str) -> str:
    # Plotly renders hover text as HTML: lines are joined with <br>, everything else is text.
    return "<br>".join(_html(line) for line in text.split("<br>"))


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
        errors = _error_lengths(t)
        error_y = None if errors is None else {"type": "data", "symmetric": False,
                                               "arrayminus": errors[0], "array": errors[1]}
        fig.add_trace(go.Scatter(x=t.x, y=t.y, name=_html(t.name),
                                 mode="lines+markers" if t.lines else "markers", marker=marker,
                                 error_y=error_y,
                                 text=[_hover_html(h) for h in t.text] or None,
                                 hovertemplate="%{text}<extra></extra>" if t.text else None))
    fig.update_layout(title={"text": _html(spec.title)}, xaxis_title=spec.x_label,
                      yaxis_title=spec.y_label, template="plotly_white",
                      legend={"orientation": "h", "y": -0.2})
    if spec.lambda_axis is not None:
        values, labels = _lambda_ticks(spec)
        fig.update_xaxes(type="log", tickvals=values, ticktext=labels)
        fig.add_vline(x=spec.lambda_axis * math.sqrt(math.sqrt(10.0)), line_dash="dot",
                      line_color="grey")
    elif spec.x_ticks is not None:
        fig.update_xaxes(tickvals=spec.x_ticks[0],
                         ticktext=[_html(label) for label in spec.x_ticks[1]])
    if spec.zero_line:
        fig.add_hline(y=0.0, line_dash="dash", line_color="grey")
    return fig


_MPL_MARKERS = {"circle": ("o", True), "diamond": ("D", True), "circle-open": ("o", False),
                "diamond-open": ("D", False)}


def _draw_trace(ax, t: Trace, color: str, color_range) -> object | None:
    """One trace on matplotlib axes; the scatter to build a colour bar from, if it has colours."""
    marker, filled = _MPL_MARKERS[t.symbol]
    errors = _error_lengths(t)
    if errors is not None:
        ax.errorbar(t.x, t.y, yerr=[errors[0], errors[1]], fmt=marker, linestyle="-" if t.lines
                    else "none", capsize=3, markersize=5, label=t.name, color=color,
                    markerfacecolor=color if filled else "none")
    elif t.lines:
        ax.plot(t.x, t.y, marker="o", markersize=3, label=t.name, color=color)
    elif t.color is not None:
        return ax.scatter(t.x, t.y, c=t.color, cmap="viridis", marker=marker,
                          vmin=color_range[0], vmax=color_range[1],
                          edgecolors="black", linewidths=0.4, label=t.name)
    else:
        ax.scatter(t.x, t.y, marker=marker, label=t.name, s=28,
                   facecolors=color if filled else "none", edgecolors=color)
    return None


def to_png(spec: FigureSpec, path: Path, size: tuple[float, float] = (7.5, 4.8),
           dpi: int = 110) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 5.4) if spec.x_ticks else size, dpi=dpi)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    scale = None
    color_range = _color_range(spec)
    for i, t in enumerate(spec.traces):
        scale = _draw_trace(ax, t, colors[i % len(colors)], color_range) or scale
    if scale is not None:
        fig.colorbar(scale, ax=ax, label=spec.color_label)
    if spec.lambda_axis is not None:
        ax.set_xscale("log")
        values, labels = _lambda_ticks(spec)
        ax.set_xticks(values, labels)
        ax.minorticks_off()
        ax.axvline(spec.lambda_axis * math.sqrt(math.sqrt(10.0)), color="grey", linestyle=":")
    elif spec.x_ticks is not None:
        ax.set_xticks(spec.x_ticks[0], spec.x_ticks[1], rotation=20, ha="right",
                      fontsize="small")
        ax.set_xlim(-0.5, len(spec.x_ticks[0]) - 0.5)
    if spec.zero_line:
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
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


def write_html(specs: Sequence[FigureSpec], path: Path, title: str) -> Path:
    """One self-contained interactive page of `specs` (plotly.js embedded once, so it opens
    offline); `title` is escaped (it holds the study's name)."""
    parts = [to_plotly(spec).to_html(full_html=False, include_plotlyjs=i == 0, div_id=spec.name)
             for i, spec in enumerate(specs)]
    shown = _html(title)
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{shown}</title>"
                    f"</head><body><h1>{shown}</h1>{''.join(parts)}</body></html>",
                    encoding="utf-8")
    return path


def write_figures(specs: Sequence[FigureSpec], output_dir: Path,
                  title: str = "Study report") -> list[Path]:
    """One PNG per figure plus the interactive `figures.html` of them all. Returns the written
    paths, HTML last."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        png = output_dir / f"{spec.name}.png"
        to_png(spec, png)
        written.append(png)
    written.append(write_html(specs, output_dir / "figures.html", title))
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
