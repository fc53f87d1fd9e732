"""When stage 2 stops adding seeds: a rule chosen by simulation so that every interval it prints
covers as promised.

Stage 2's arms all train the same seeds (a round adds seeds to every arm), so its design stays
balanced and its family's half-widths shrink together. The rule: at least `min_seeds` seeds, then
another round while the family's widest half-width is above the target, up to `max_seeds`.
Stopping on precision, never on significance (stopping when a result turns significant biases
it). Stopping on precision biases the SD estimate downward (a round ends when the SD happens to be
low); with a variance pooled over the whole design ((A − 1)(n − 1) degrees of freedom, not one
comparison's n − 1) the estimate barely moves between looks, and the minimum of 5 seeds keeps it so.
Simulated coverage (bench/answer_coverage.py, BENCHMARKS.md): ≥ 94.5 % of 2,000 studies per
setting with 2 and 3 points of run noise, equal and unequal spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from study.analysis.blocked_design import Family

MIN_SEEDS = 5  # no stage-2 answer stops before this many seeds per arm


@dataclass(frozen=True)
class StopDecision:
    more: bool  # another round of seeds
    widest: float  # the family's widest half-width now (inf without intervals)
    reason: str


def widest_half_width(family: Family) -> float:
    widths = [iv.half_width for iv in family.intervals]
    return math.inf if not widths or any(math.isnan(w) for w in widths) else max(widths)


def decide(family: Family, seeds: int, target: float | None, *, min_seeds: int = MIN_SEEDS,
           max_seeds: int) -> StopDecision:
    """Whether stage 2 (every arm at `seeds` seeds) gets another round."""
    widest = widest_half_width(family)
    floor = min(min_seeds, max_seeds)
    if seeds >= max_seeds:
        return StopDecision(False, widest, f"every arm has {max_seeds} seeds (the cap)")
    if seeds < floor:
        return StopDecision(True, widest, f"fewer than {floor} seeds per arm (the minimum)")
    if target is None:
        return StopDecision(False, widest, "no precision target")
    if widest > target:
        return StopDecision(True, widest, f"widest interval ±{widest * 100:.1f} points, above "
                                          f"the target ±{target * 100:g}")
    return StopDecision(False, widest, f"every interval within ±{target * 100:g} points")
