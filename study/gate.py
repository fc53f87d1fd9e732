"""The gate both phases ask through: under the study lock, stale trials are failed and re-queued
first, then the phase decides whether a trial may start now, must wait, or is done.

A worker waits while the rest of its phase is held by RUNNING trials: one of them may still fail,
or belong to a killed worker (its heartbeat goes stale, the sweep fails and re-queues it, and this
worker runs the retry). The wait ends when the phase is done, a place frees up, or the worker's
deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna

from storage import GatedStudy, fail_stale, running_with_heartbeat, study_lock

MAX_POLL_S = 5.0  # how often a waiting worker looks at the RUNNING trials


class PhaseDone(Exception):
    """Raised from `ask` when the phase has nothing left to start; the worker moves on."""


def gated(study: optuna.Study, may_start: Callable[[GatedStudy], bool], *,
          deadline: float | None, heartbeat_interval: int | None) -> GatedStudy:
    """`study` whose `ask` starts a trial only when `may_start` (called under the study lock,
    after the stale sweep) says True; it raises PhaseDone when the phase is done.

    `study.optimize` asks through it, so heartbeats, pruning and callbacks stay Optuna's.
    `deadline` (a `time.monotonic()` value) bounds the wait for other workers' RUNNING trials.
    """
    poll = min(MAX_POLL_S, max(0.5, (heartbeat_interval or MAX_POLL_S) / 2))

    def gate(gated_study: GatedStudy, ask: Callable[[], optuna.Trial]) -> optuna.Trial:
        unbeating = 0
        while True:
            with study_lock(gated_study):
                fail_stale(gated_study)  # a stale trial's place is freed, its retry queued at once
                if may_start(gated_study):
                    return ask()
            # The sweep gave every RUNNING trial a heartbeat (`adopt_unbeaten`); none twice in a
            # row (without heartbeats, or no RUNNING trial) means nothing is worth waiting for.
            unbeating = unbeating + 1 if running_with_heartbeat(gated_study) == 0 else 0
            if heartbeat_interval is None or unbeating >= 2 or (
                    deadline is not None and time.monotonic() + poll > deadline):
                raise PhaseDone
            time.sleep(poll)

    return GatedStudy(study, gate)


def swept_first(study: optuna.Study) -> GatedStudy:
    """No gate: every ask, as in Optuna's own loop, first fails and re-queues stale trials."""
    def gate(gated_study: GatedStudy, ask: Callable[[], optuna.Trial]) -> optuna.Trial:
        with study_lock(gated_study):
            fail_stale(gated_study)
            return ask()

    return GatedStudy(study, gate)
