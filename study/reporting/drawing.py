"""Drawing a figure description twice: interactive plotly (one self-contained HTML file) and
matplotlib PNGs for documents.

PNGs come from matplotlib rather than plotly + kaleido because kaleido ≥ 1 needs a Chrome at
run time, which GPU hosts and containers do not have. λ is drawn on a log axis; λ = 0 sits at a
labelled position left of the smallest λ > 0, so the baseline is visible on the same axis. Text
that ends up in HTML is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ZERO_LABEL = "λ = 0"


def lambda_x(lam: float, zero_x: float) -> float:
    """Where λ is drawn on the log axis: itself, or λ = 0 at `zero_x`."""
    return lam if lam > 0 else zero_x


def lambda_positions(lams: Sequence[float]) -> tuple[float, list[float], list[str]]:
    """Where λ = 0 is drawn (one decade below the lowest decade of the λs), and the ticks."""
    positive = [lam for lam in lams if lam > 0]
    lo = math.floor(math.log10(min(positive))) if positive else 0
    hi = math.ceil(math.log10(max(positive))) if positive else 1
    zero_x = 10.0 ** (lo - 1)
    decades = [10.0**k for k in range(lo, hi + 1)]
    return zero_x, [zero_x, *decades], [ZERO_LABEL, *(f"{d:g}" for d in decades)]



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
    band: bool = False  # the interval as a shaded band between low and high, not error bars


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
        errors = None if t.band else _error_lengths(t)
        error_y = None if errors is None else {"type": "data", "symmetric": False,
                                               "arrayminus": errors[0], "array": errors[1]}
        if t.band and t.low is not None and t.high is not None:
            fig.add_trace(go.Scatter(x=[*t.x, *t.x[::-1]], y=[*t.high, *t.low[::-1]],
                                     fill="toself", mode="lines", line={"width": 0},
                                     opacity=0.25, name=_html(f"{t.name}: band"),
                                     hoverinfo="skip"))
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
                         ticktext=[_html(label).replace("\n", "<br>")
                                   for label in spec.x_ticks[1]])
    if spec.zero_line:
        fig.add_hline(y=0.0, line_dash="dash", line_color="grey")
    return fig


_MPL_MARKERS = {"circle": ("o", True), "diamond": ("D", True), "circle-open": ("o", False),
                "diamond-open": ("D", False)}


def _draw_trace(ax, t: Trace, color: str, color_range) -> object | None:
    """One trace on matplotlib axes; the scatter to build a colour bar from, if it has colours."""
    marker, filled = _MPL_MARKERS[t.symbol]
    if t.band and t.low is not None and t.high is not None:
        ax.fill_between(t.x, t.low, t.high, color=color, alpha=0.2, linewidth=0)
    errors = None if t.band else _error_lengths(t)
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


def matplotlib_figure(spec: FigureSpec, size: tuple[float, float] = (7.5, 4.8),
                      dpi: int = 110):
    """The PNG's matplotlib figure (the caller closes it). The legend sits below the axes, so
    it never hides a point."""
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
        ax.set_xticks(spec.x_ticks[0], spec.x_ticks[1], rotation=30, ha="right",
                      rotation_mode="anchor", fontsize="small")
        ax.set_xlim(-0.5, len(spec.x_ticks[0]) - 0.5)
    if spec.zero_line:
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel=spec.x_label, ylabel=spec.y_label)
    fig.suptitle(spec.title)
    if spec.name == "learning_curves":
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if spec.traces:
        # Outside the axes, between the title and the plot: `tight_layout` makes room for it.
        ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=2 if len(spec.traces) > 1 else 1, frameon=False)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    return fig


def to_png(spec: FigureSpec, path: Path, size: tuple[float, float] = (7.5, 4.8),
           dpi: int = 110) -> None:
    import matplotlib.pyplot as plt

    fig = matplotlib_figure(spec, size, dpi)
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
