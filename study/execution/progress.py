"""Progress of `run` and `replicate` while their workers work: one poll of the storage a call.

A tqdm bar per phase on a terminal; elsewhere (logs, CI) one line whenever the numbers change.
"""

from __future__ import annotations

import sys

from optuna.trial import TrialState

from study import service
from study.replicates.plan import open_companion
from study.replicates.runs import replicate_counts
from study.trials import FINISHED


class Progress:
    def __init__(self, loaded: service.LoadedStudy) -> None:
        self.loaded = loaded
        self.last: tuple | None = None
        self.bars: dict[str, object] = {}

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

    def __call__(self) -> None:
        study = self.loaded.study
        trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        done = [t for t in trials if t.state != TrialState.RUNNING]
        values = [t.value for t in done if t.state == TrialState.COMPLETE]
        best = f"{max(values):.4f}" if values else "-"
        budget = self.loaded.experiment.n_trials
        phase, finished, total = "search", len(done), budget
        running = len(trials) - len(done)
        companion = open_companion(study, create=False)
        if companion is not None and (budget is None or finished >= budget):
            phase = "replicates"
            finished, total = replicate_counts(companion)
            running = len(companion.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        bar = self._bar(phase, total)
        if bar is not None:
            bar.total, bar.n = total, finished
            bar.set_postfix(running=running, **({"best": best} if phase == "search" else {}),
                            refresh=False)
            bar.refresh()
        elif (phase, finished, running, best) != self.last:
            self.last = (phase, finished, running, best)
            extra = f", best {best}" if phase == "search" else ""
            print(f"{phase}: finished {finished}/{total or '-'}, running {running}{extra}",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
