"""Progress of `run` and `replicate` while their workers work: one poll of the storage a call.

A tqdm bar per phase on a terminal; elsewhere (logs, CI) one line whenever the number of finished
trials changes. Either way one line when a phase starts and ends, when a replicate round is
planned, and for each search trial pruned while this command watched (at which epoch), with the
elapsed time and an ETA. A resumed study gets one line saying what is resumed; the trials that
finished before are counted, not replayed.

The ETA is the trials left over the pace of the recent ones (`Progress._eta`): their
completions per second of wall time; it is given once a trial finished while this command
watched. How true it is: BENCHMARKS.md §11 (`bench/progress_eta.py`).
"""

from __future__ import annotations

import sys
import time

from optuna.trial import TrialState

from study import service
from study.replicates.plan import current_plan, open_companion
from study.replicates.rounds import pace
from study.replicates.runs import replicate_counts
from study.trials import FINISHED


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class Progress:
    def __init__(self, loaded: service.LoadedStudy) -> None:
        self.loaded = loaded
        self.last: tuple | None = None
        self.bars: dict[str, object] = {}
        self.started: dict[str, float] = {}  # phase → when this process first saw it running
        self.pruned: set[int] = set()
        self.rounds = 0
        self.done_said = False
        self.finished_at_start: dict[str, int] = {}  # phase → its finished count when first seen
        self.replicate_total = 0  # planned replicate runs at the last poll
        self.parallel: dict[str, int] = {}  # phase → most trials seen running at once
        self._resumed(loaded)

    def _resumed(self, loaded: service.LoadedStudy) -> None:
        """One line for a study that already has finished trials; they are not replayed."""
        finished = loaded.study.get_trials(deepcopy=False, states=FINISHED)
        if not finished:
            return
        self.pruned = {t.number for t in finished if t.state == TrialState.PRUNED}
        values = [t.value for t in finished if t.state == TrialState.COMPLETE]
        best = f", best validation {max(values) * 100:.1f} %" if values else ""
        budget = loaded.experiment.n_trials
        line = (f"search: resuming study {loaded.name!r}: {len(finished)} of "
                f"{budget or '-'} trials finished ({len(self.pruned)} pruned{best})")
        companion = open_companion(loaded.study, create=False)
        if companion is not None and budget is not None and len(finished) >= budget:
            done, total = replicate_counts(companion)
            plan = current_plan(companion)
            self.rounds = 0 if plan is None else len(plan.rounds)  # planned rounds: said before
            line = (f"replicates: resuming study {loaded.name!r}: search done ({len(finished)} "
                    f"trials{best}); {done} of {total} replicate runs finished"
                    + ("" if plan is None else f" in {len(plan.rounds)} rounds"))
        self.say(line)

    def say(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def _bar(self, phase: str, total: int | None):
        if not sys.stderr.isatty():
            return None
        if phase not in self.bars:
            from tqdm import tqdm

            for bar in self.bars.values():
                bar.close()
            self.bars[phase] = tqdm(total=total, unit="trial", desc=phase, file=sys.stderr,
                                    dynamic_ncols=True)
        return self.bars[phase]

    def _phase(self, phase: str, finished: int, total: int | None, trials) -> str:
        """"12 s elapsed, ETA 40 s" from this phase's pace so far."""
        now = time.monotonic()
        if phase not in self.started:
            self.started[phase] = now
            self.finished_at_start[phase] = finished
            self.say(f"{phase}: started" + (f" ({total} runs planned)" if phase == "replicates"
                                            else f" (budget {total} trials)" if total else ""))
        elapsed = now - self.started[phase]
        eta = None
        if total and finished < total and finished > self.finished_at_start[phase]:
            eta = self._eta(phase, trials, total - finished)
        return f"{_duration(elapsed)} elapsed" + (f", ETA {_duration(eta)}" if eta else "")

    def _eta(self, phase: str, trials, left: int) -> float | None:
        """The trials left over the pace of the recent ones: the later half of the finished
        trials (pruning shortens trials as the search goes on), their completions per second of
        wall time, which holds the workers' number and the time between trials; with fewer than
        three, their mean duration over the most trials seen running at once."""
        finished = sorted((t for t in trials if t.state != TrialState.RUNNING
                           and t.datetime_start and t.datetime_complete),
                          key=lambda t: t.datetime_complete)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        self.parallel[phase] = max(self.parallel.get(phase, 1), running)
        if not finished:
            return None
        recent = finished[len(finished) // 2:]
        if len(recent) >= 3:
            span = (recent[-1].datetime_complete - recent[0].datetime_complete).total_seconds()
            if span > 0:
                return left * span / (len(recent) - 1)
        per = sum((t.datetime_complete - t.datetime_start).total_seconds()
                  for t in recent) / len(recent)
        return left * per / self.parallel[phase]

    def _search_events(self, trials) -> None:
        for t in trials:
            if t.state == TrialState.PRUNED and t.number not in self.pruned:
                self.pruned.add(t.number)
                epoch = max(t.intermediate_values, default=-1) + 1
                value = t.intermediate_values.get(epoch - 1)
                shown = "" if value is None else f" (validation {value * 100:.1f} %)"
                self.say(f"search: trial {t.number} pruned at epoch {epoch}{shown}")

    def _replicate_events(self, companion, finished: int, total: int) -> None:
        if total < self.replicate_total:  # runs cancelled (`study.replicates.runs._cancel`)
            self.say(f"replicates: the phase's budget is spent: {self.replicate_total - total} "
                     "planned runs will not start; runs under way finish")
        self.replicate_total = total
        plan = current_plan(companion)
        if plan is None:
            return
        while self.rounds < len(plan.rounds):
            r = plan.rounds[self.rounds]
            before = plan.rounds[self.rounds - 1].seeds if self.rounds else {}
            runs = sum(n - before.get(k, 0) for k, n in r.seeds.items())
            arms = sum(n > before.get(k, 0) for k, n in r.seeds.items())
            eta = f", ETA {_duration(r.eta_seconds)}" if r.eta_seconds else ""
            step = max(n - before.get(k, 0) for k, n in r.seeds.items())
            self.say(f"replicates: planned {runs} runs ({arms} arms × {step} seeds), round "
                     f"{r.number}{eta}: {r.reason}")
            self.rounds += 1
        if plan.done and not self.done_said and finished >= total:
            self.done_said = True
            timing = pace(companion.get_trials(deepcopy=False))
            spent = "" if timing is None else f" in {_duration(timing.elapsed)}"
            self.say(f"replicates: done{spent} after {len(plan.rounds)} rounds ({finished} "
                     f"runs): {plan.done}")

    def __call__(self) -> None:
        study = self.loaded.study
        trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        self._search_events(trials)
        done = [t for t in trials if t.state != TrialState.RUNNING]
        values = [t.value for t in done if t.state == TrialState.COMPLETE]
        best = f"{max(values) * 100:.1f} %" if values else "-"
        budget = self.loaded.experiment.n_trials
        phase, finished, total = "search", len(done), budget
        running = len(trials) - len(done)
        companion = open_companion(study, create=False)
        if companion is not None and (budget is None or finished >= budget):
            if "search" in self.started and "replicates" not in self.started:
                self.say(f"search: done in {_duration(time.monotonic() - self.started['search'])}"
                         f" ({finished} trials, best validation {best})")
            phase = "replicates"
            finished, total = replicate_counts(companion)
            trials = companion.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
            running = sum(t.state == TrialState.RUNNING for t in trials)
        timing = self._phase(phase, finished, total, trials)
        if phase == "replicates":
            self._replicate_events(companion, finished, total)
        bar = self._bar(phase, total)
        if bar is not None:
            bar.total, bar.n = total, finished
            bar.set_postfix(running=running, **({"best": best} if phase == "search" else {}),
                            refresh=False)
            bar.refresh()
        elif (phase, finished) != self.last:  # not on every change of the running count
            self.last = (phase, finished)
            extra = f", best {best}" if phase == "search" else ""
            self.say(f"{phase}: finished {finished}/{total or '-'}, running {running}{extra}; "
                     f"{timing}")

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
