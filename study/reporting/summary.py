"""The answer `run` ends with: where the study stands, the best trial, the replicate phase's
answer, λ's importance and how long each phase took."""

from __future__ import annotations

from typing import Any

import optuna

from study import service
from study.analysis import importance
from study.analysis.effects import Answer
from study.output import Output
from study.replicates.plan import open_companion
from study.reporting.report_text import answer_lines
from study.reporting.status import brief, phase_seconds, status

MIN_TRIALS_FOR_IMPORTANCE = 3


def importance_line(study: optuna.Study) -> tuple[str, list]:
    """λ's rank by fANOVA over COMPLETE trials and over every finished trial, and whether the
    evaluators agree; with the number of trials each rests on."""
    complete = len(importance.complete_trials(study))
    results, problems = importance.compute_importances(study, seed=0, evaluators=("fanova",))
    if complete < MIN_TRIALS_FOR_IMPORTANCE or not results:
        why = "; ".join(message for _, message in problems)
        return (f"not enough trials for importances ({complete} complete; "
                f"{why or 'need ' + str(MIN_TRIALS_FOR_IMPORTANCE)})"), results
    return importance.rank_agreement(results), results


def answer_text(loaded: service.LoadedStudy,
                answer: Answer | None) -> tuple[str, dict[str, Any]]:
    """The closing summary of `run` (text and the same numbers as data), with the replicate
    phase's `answer` (`replicates.runs.answer_of`; None: none yet). It prints, never writes."""
    from storage import redact_url

    study, experiment = loaded.study, loaded.experiment
    info = status(loaded)
    label = redact_url(loaded.url)
    rep = info["replicates"]
    if rep["planned"]:
        replicate_state = f"replicates {rep['finished']}/{rep['planned']}"
    else:
        replicate_state = ("no replicates yet" if experiment.replicates.seeds
                           else "no replicate phase")
    lines = [] if answer is None else [*answer_lines(answer), ""]
    lines.append(f"study {study.study_name}: {info['finished']} finished search trials"
                 + (f" of a budget of {experiment.n_trials}" if experiment.n_trials else "")
                 + f" ({brief({k: v for k, v in info['trials_by_state'].items() if v})}); "
                 + replicate_state)
    best = info["best"]
    if best is None:
        lines.append("no complete trial yet: nothing to report")
    else:
        lines += [(f"search's best trial {best['number']}: validation accuracy "
                   f"{_percent(best['value'])}, test accuracy {_percent(best['test_accuracy'])} "
                   "(one run: it ranks configurations, it does not measure effects)"),
                  f"its params    λ = {brief(best['lambda'])}, {brief(best['params'])}"]
    if answer is None and experiment.replicates.seeds:
        lines.append(f"answer        not yet: the replicate phase starts once the search budget "
                     f"is finished ({experiment.replicates.seeds} paired seeds per arm)")
    elif answer is None:
        lines.append("answer        no replicate phase (--replicate-seeds 0): single trials do "
                     "not measure effects; run `python -m study replicate --seeds 3`")
    text, importances = importance_line(study)
    lines.append(f"importance    {text}")
    search = phase_seconds([t for t in study.get_trials(deepcopy=False)
                            if t.state.is_finished()])
    companion = open_companion(study, create=False)
    repl = phase_seconds([t for t in companion.get_trials(deepcopy=False)
                          if t.state.is_finished()]) if companion is not None else None
    lines.append(f"timing        search {brief(search and round(search))} s, replicates "
                 f"{brief(repl and round(repl))} s (first start to last end)")
    name = study.study_name
    lines += [f"next          python -m study report --storage {label} --study {name}",
              f"              python -m study dashboard --storage {label} --study {name}",
              f"              python -m study.best export --storage {label} --study {name}"]
    data = {"status": info, "answer": None if answer is None else answer.as_dict(),
            "importances": [r.to_dict() for r in importances],
            "seconds": {"search": search, "replicates": repl}}
    return "\n".join(lines), data


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def answer(loaded: service.LoadedStudy, answer: Answer | None) -> Output:
    text, data = answer_text(loaded, answer)
    return Output(data, text)
