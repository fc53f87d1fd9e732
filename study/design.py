"""The replicate design: its arms, its rounds of seeds, the plan that holds them and one finished
run. The replicate phase (`study.replicates`) plans, stores and serves them; the answer
(`study.analysis`) reads them: both import them from here, so the numbers name their inputs
without depending on the phase that produced them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from objectives import TrialParams

SAME = 1e-9  # two configurations' λ and dropout closer than this are the same


@dataclass(frozen=True)
class Arm:
    key: str  # stable id: "best", "lambda=0", "lambda=10", "dropout=0", "hidden=96", "trial=7"
    label: str  # for people: "λ = 0", "dropout 0 (low end)", "trial 7: λ = 3.2, …"
    factor: str | None  # changed from the best: "λ" (curve), "dropout", "hidden", "config"
    lam: float
    dropout: float
    hidden: int
    origin: str = ""  # where it comes from: "search trial 4", "λ-curve point λ = 10"
    search_trial: int | None = None  # the search trial with this configuration, if one
    search_value: float | None = None  # that trial's single-run validation accuracy

    @property
    def params(self) -> TrialParams:
        return TrialParams(lam=self.lam, dropout=self.dropout, hidden=self.hidden)

    def same_configuration(self, other: Arm) -> bool:
        return (abs(self.lam - other.lam) < SAME and abs(self.dropout - other.dropout) < SAME
                and self.hidden == other.hidden)


@dataclass(frozen=True)
class Round:
    """One round of seeds: every arm's seed count once it is done, and why it was planned."""

    number: int
    seeds: dict[str, int]  # arm key → its seeds 0 … n − 1 once this round is done
    reason: str
    eliminated: tuple[str, ...] = ()  # arms that left the race when this round was planned
    eta_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "eliminated": list(self.eliminated)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Round:
        return cls(number=int(data["number"]), seeds={k: int(v) for k, v in data["seeds"].items()},
                   reason=data["reason"], eliminated=tuple(data.get("eliminated", ())),
                   eta_seconds=data.get("eta_seconds"))


@dataclass(frozen=True)
class Plan:
    source_trial: int  # the search trial whose configuration is the best arm
    lambda_arm: str  # kept for plans stored before the λ curve ("best" since)
    arms: tuple[Arm, ...]
    seeds: int  # K0: the first round's seeds per arm
    notes: tuple[str, ...] = ()
    rounds: tuple[Round, ...] = ()
    done: str | None = None  # why no further round comes (None: the phase may go on)
    max_seeds: int = 0  # seeds per arm at most (the cap of the extra rounds)

    def seeds_of(self, key: str) -> int:
        return self.rounds[-1].seeds.get(key, 0) if self.rounds else self.seeds

    @property
    def runs(self) -> int:
        """Replicate runs planned in all rounds so far."""
        return sum(self.seeds_of(arm.key) for arm in self.arms)

    @property
    def eliminated(self) -> tuple[str, ...]:
        return tuple(key for r in self.rounds for key in r.eliminated)

    def arm(self, key: str) -> Arm:
        return next(a for a in self.arms if a.key == key)

    def as_dict(self) -> dict[str, Any]:
        return {"source_trial": self.source_trial, "lambda_arm": self.lambda_arm,
                "arms": [asdict(arm) for arm in self.arms], "seeds": self.seeds,
                "notes": list(self.notes), "rounds": [r.as_dict() for r in self.rounds],
                "done": self.done, "max_seeds": self.max_seeds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        arms = tuple(Arm(**arm) for arm in data["arms"])
        seeds = int(data["seeds"])
        # A plan stored before rounds existed had one: every arm with K seeds.
        rounds = tuple(Round.from_dict(r) for r in data.get("rounds", ())) or (
            Round(1, {arm.key: seeds for arm in arms}, "first round"),)
        return cls(source_trial=int(data["source_trial"]), lambda_arm=data["lambda_arm"],
                   arms=arms, seeds=seeds, notes=tuple(data.get("notes", ())), rounds=rounds,
                   done=data.get("done"), max_seeds=int(data.get("max_seeds", seeds)))


@dataclass(frozen=True)
class Run:
    """One finished replicate, as the statistics read it."""

    arm: str
    seed: int
    val_accuracy: float
    test_accuracy: float
    seconds: float
    test_correct: np.ndarray  # 0/1 per test clip
    holdout_accuracy: float | None
    holdout_correct: np.ndarray | None
