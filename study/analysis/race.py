"""Stage 1's race among configurations, on validation accuracy, from one blocked fit: who leaves
the race, when it is over, and which configuration goes on to stage 2 — including a stated rule
when the race cannot tell its leaders apart.

Pure functions over a `blocked_design.BlockedFit` of validation accuracies.

Rules, and why
- Every pair of racing arms in one family (Tukey-type max-|t|): the leader is picked from the
  same data, and only a family over every pair covers "candidate − leader" whichever arm leads.
- A candidate leaves when its interval against the leader lies below 0. The race looks after
  every round; its α is spread over the most looks it may take (`per_look`), so the chance that
  the truly best arm ever leaves stays ≤ α over the whole race.
- The race is over when one arm is left, or at the seed cap. Leaders it cannot tell apart are a
  tie: then the cheapest configuration shown within `margin` of the leader (its lower bound
  against the leader above −margin) is chosen — λ = 0 before λ > 0 (no decoder), then the smaller
  hidden size, then the smaller λ; no arm shown within the margin: the leader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from study.analysis.blocked_design import BlockedFit, Family, all_pairs, simultaneous

MARGIN = 0.01  # a tie may pick a cheaper arm at most this far below the leader (1 point)


def per_look(confidence: float, looks: int) -> float:
    """Each look's confidence when α is spread over `looks` (Bonferroni over the looks)."""
    return 1.0 - (1.0 - confidence) / max(looks, 1)


@dataclass(frozen=True)
class RaceLook:
    leader: str
    family: Family  # every pair of racing arms, at the look's confidence
    eliminated: tuple[str, ...]  # significantly worse than the leader
    survivors: tuple[str, ...]  # in input order, the leader among them

    @property
    def decided(self) -> bool:
        return len(self.survivors) == 1


def look(design: BlockedFit, confidence: float) -> RaceLook:
    """One look at the race: the leader (highest fitted mean), and who is shown worse than it."""
    arms = design.arms
    leader = max(arms, key=lambda a: (design.mean(a), design.n(a), -arms.index(a)))
    if len(arms) == 1:
        return RaceLook(leader, _empty(design, confidence), (), arms)
    family = simultaneous(design, all_pairs(arms), confidence)
    out = tuple(a for a in arms if a != leader and family.get(a, leader).high < 0.0)
    return RaceLook(leader, family, out, tuple(a for a in arms if a not in out))


def _empty(design: BlockedFit, confidence: float) -> Family:
    return Family((), confidence, float("nan"), design.df, "one arm: nothing to compare")


def cheapest_first(lam: float, hidden: int) -> tuple[bool, int, float]:
    """The tie rule's order: λ = 0 first (no decoder to train), then smaller hidden, smaller λ."""
    return (lam > 0.0, hidden, lam)


@dataclass(frozen=True)
class Choice:
    arm: str
    leader: str
    tied: tuple[str, ...]  # survivors the race could not tell from the leader (leader included)
    within_margin: tuple[str, ...]  # tied arms shown within `margin` of every other survivor
    rule: str  # in words, for the answer


def choose(final: RaceLook, cost: Callable[[str], tuple] | Mapping[str, tuple],
           margin: float = MARGIN) -> Choice:
    """The configuration stage 2 measures: the only survivor, or by the tie rule."""
    key = cost if callable(cost) else cost.__getitem__
    if final.decided:
        return Choice(final.leader, final.leader, (final.leader,), (final.leader,),
                      "the only configuration left in the race")
    close = [a for a in final.survivors
             if all(final.family.get(a, b).low > -margin for b in final.survivors if b != a)]
    arm = min(close, key=key) if close else final.leader  # nobody shown close: the leader
    rule = (f"the race could not tell {len(final.survivors)} configurations apart; chosen: the "
            f"cheapest of those shown within {margin * 100:g} point of every other survivor "
            f"(λ = 0 before λ > 0, then the smaller hidden size)")
    if not close:
        rule += "; none is, so the leader (the highest validation mean)"
    return Choice(arm, final.leader, final.survivors, tuple(close), rule)
