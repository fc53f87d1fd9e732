"""Stage 2's one-factor grids around the race's winner: which values of λ, dropout and hidden size
are trained (on fresh seeds) to measure the curve and the three effects where the answer is.

Every factor gets the same number of points spread over its searched range, so the three effects
(each the spread of its grid: best point − worst point) carry the same selection bias: λ = 0 and
`points − 1` λ values log-spaced over the searched λ range; dropout and hidden size `points`
values evenly spaced from the low to the high end (hidden sizes on the search's step). The
winner's own value is a point of every grid (the arms meet there); the user's named values
(`--replicate-lambdas`, `--replicate-dropouts`, `--replicate-hidden`) and the reference's λ
(inside the range) are added. Pure functions over numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SAME = 1e-9


@dataclass(frozen=True)
class GridPoint:
    factor: str  # "λ", "dropout", "hidden"
    value: float
    where: str  # "grid", "winner", "reference", "named"


def log_spaced(low: float, high: float, count: int) -> list[float]:
    """`count` λ values log-spaced from `low` to `high` (one: their geometric mean), each rounded
    to 2 significant digits."""
    if count < 1:
        return []
    if count == 1:
        values = [math.sqrt(low * high)]
    else:
        step = (math.log10(high) - math.log10(low)) / (count - 1)
        values = [10 ** (math.log10(low) + i * step) for i in range(count)]
    return [float(f"{v:.2g}") for v in values]


def even(low: float, high: float, count: int, step: float | None = None) -> list[float]:
    """`count` values evenly spaced from `low` to `high` (on multiples of `step` above `low`)."""
    if count <= 1:
        return [low]
    values = [low + (high - low) * i / (count - 1) for i in range(count)]
    if step:
        values = [low + step * round((v - low) / step) for v in values]
    return [float(f"{v:.6g}") for v in values]


def _merge(points: list[GridPoint]) -> list[GridPoint]:
    """One point per value (the first reason wins), sorted by value."""
    kept: list[GridPoint] = []
    for p in points:
        if not any(abs(p.value - q.value) < SAME for q in kept):
            kept.append(p)
    return sorted(kept, key=lambda p: p.value)


def factor_grids(winner: tuple[float, float, int], *, lambda_range: tuple[float, float],
                 dropout_range: tuple[float, float], hidden_range: tuple[int, int, int],
                 points: int, reference_lambda: float | None = None,
                 lambdas: tuple[float, ...] = (), dropouts: tuple[float, ...] = (),
                 hiddens: tuple[int, ...] = ()) -> dict[str, list[GridPoint]]:
    """factor → its grid points around `winner` = (λ, dropout, hidden), the winner's value among
    them. `points` per factor (≥ 2): λ = 0 and points − 1 log-spaced λ > 0; dropout and hidden
    evenly spaced from end to end."""
    points = max(points, 2)
    lam, dropout, hidden = winner
    low, high = lambda_range
    lam_points = [GridPoint("λ", 0.0, "grid"),
                  *(GridPoint("λ", v, "grid") for v in log_spaced(low, high, points - 1)),
                  GridPoint("λ", lam, "winner"), *(GridPoint("λ", v, "named") for v in lambdas)]
    if reference_lambda is not None and low - SAME <= reference_lambda <= high + SAME:
        lam_points.append(GridPoint("λ", reference_lambda, "reference"))
    h_low, h_high, step = hidden_range
    return {
        "λ": _merge(lam_points),
        "dropout": _merge([*(GridPoint("dropout", v, "grid")
                             for v in (dropouts or even(*dropout_range, points))),
                           GridPoint("dropout", dropout, "winner")]),
        "hidden": _merge([*(GridPoint("hidden", v, "grid")
                            for v in (hiddens or even(h_low, h_high, points, step))),
                          GridPoint("hidden", float(hidden), "winner")])}
