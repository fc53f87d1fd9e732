"""Asks that pass a gate first.

`Study.optimize` (the only path with heartbeats) asks for trials through `self.ask`; a subclass
is the one way to decide, per ask, whether a trial may start.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

from storage.optuna_seam.ids import backend_of
from storage.optuna_seam.resilient import ResilientRDBStorage


class GatedStudy(optuna.Study):
    """The same study, with `gate(ask)` deciding whether and when `ask()` runs.

    `last_trial_id` is the storage id of the trial this process asked for last.
    """

    def __init__(self, study: optuna.Study,
                 gate: Callable[[GatedStudy, Callable[[], optuna.Trial]], optuna.Trial]) -> None:
        super().__init__(study.study_name, study._storage, study.sampler, study.pruner)
        self._gate = gate
        backend = backend_of(study)
        if isinstance(backend, ResilientRDBStorage):
            backend.sweeps_under_lock_only = True  # the gate sweeps (see `fail_stale`)
        self.last_trial_id: int | None = None

    def ask(self, fixed_distributions=None):  # type: ignore[no-untyped-def]
        trial = self._gate(self, lambda: super(GatedStudy, self).ask(fixed_distributions))
        self.last_trial_id = trial._trial_id
        return trial
