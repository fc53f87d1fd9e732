"""Trial states and the best trial, counted one way for both phases, the reports and the export."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from storage import count_trials

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # trained and reported: they use the budget


def count_states(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """Trials per state name, every state listed (0 where none)."""
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    return counts


def n_finished(study: optuna.Study) -> int:
    """COMPLETE and PRUNED trials, counted by the database."""
    return count_trials(study, FINISHED)


def best_of(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The best COMPLETE trial; among equal values the first (Optuna's own `best_trial` leaves ties
    to the database, so two commands could name different trials)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return max(complete, key=lambda t: (float(t.value), -t.number), default=None)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best COMPLETE trial (ties: the first), the one the replicates and export name."""
    return best_of(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
