"""The answer and the report in plain text: the verdicts and the table of arms (printed by `run`
and `report`), the importances, the search phase, and how to get an answer not measured yet."""

from __future__ import annotations

import shlex
from typing import Any

from study import defaults
from study.analysis import effects, importance, statistics
from study.analysis.effects import Answer, Comparison
from study.analysis.search_gap import ArmBest, LambdaEffect
from study.reporting.answer_text import decisive_lines
from study.service import LoadedStudy
from study.trials import n_finished

# Optuna's docs: PED-ANOVA wants at least 5 trials above its target quantile (10 % by default).
PED_ANOVA_STABLE_TRIALS = 50


def _pct_ci(ci: statistics.MeanCI | None) -> str:
    if ci is None:
        return "-"
    if ci.n < 2:
        return f"{ci.mean * 100:.1f} % (1 seed)"
    return f"{ci.mean * 100:.1f} ± {ci.half_width * 100:.1f} %"


def _signed(fraction: float) -> str:
    return f"{fraction * 100:+.1f}".replace("-", "−")


def _holm_cell(c: Comparison) -> str:
    if statistics.significance(c.diff, p_adjusted=c.p_adjusted) == "no spread":
        return "no spread"
    return "< 0.001" if c.p_adjusted < 0.001 else f"{c.p_adjusted:.3f}"


def answer_lines(answer: Answer) -> list[str]:
    """The answer as text: the decisive part first (what to use, the curve, the effects), then
    the table of arms with the reference's claim."""
    return [*decisive_lines(answer), "", *arms_lines(answer)]


def arms_lines(answer: Answer) -> list[str]:
    """The reference's claim and the table of arms, per split."""
    lines = []
    width = max(len(arm.label) for arm in answer.plan.arms)
    for split in answer.splits:
        where = "test accuracy" if split.split == "test" else "holdout accuracy"
        lines.append(f"The arms ({where}; replicates around trial {answer.plan.source_trial}'s "
                     f"configuration, {answer.plan.seeds} paired seeds per arm first, "
                     f"{answer.finished}/{answer.planned} runs finished):")
        for c in split.comparisons:
            if c.key != "reference_claim":
                continue
            lines.append(f"  {c.title + ':':<19} {c.verdict}")
            b = c.bootstrap
            if b is not None and c.diff is not None and "over test clips" not in c.verdict:
                lines.append(f"  {'':<19} over test clips and seeds (bootstrap): "
                             f"{_signed(b.low)} … {_signed(b.high)} points")
        lines.append(f"  {'arm':<{width}}  {'n':>2}  {'accuracy (95 % CI)':<18}  "
                     f"{'arm − best, points (95 % CI)':<28}  Holm p")
        for summary in split.arms:
            c = split.comparison(f"{summary.arm.key} vs best")
            cells = ("—", "") if summary.arm.key == "best" else ("-", "")
            if c is not None and c.diff is not None and c.diff.n >= 2:
                d = c.diff
                cells = (f"{_signed(d.mean)} ({_signed(d.low)} … {_signed(d.high)})",
                         _holm_cell(c))
            lines.append(f"  {summary.arm.label:<{width}}  {summary.n:>2}  "
                         f"{_pct_ci(summary.accuracy):<18}  {cells[0]:<28}  {cells[1]}")
    lines += [f"  note: {note}" for note in answer.notes]
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def replicate_commands(loaded: LoadedStudy) -> list[str]:
    seeds = loaded.experiment.replicates.seeds or defaults.REPLICATE_SEEDS
    study = shlex.quote(loaded.study.study_name)
    return [f"python -m study replicate --study {study} --seeds {seeds}",
            f"python -m study report --study {study} --ablation --seeds {seeds}"]


def why_not_replicated(loaded: LoadedStudy) -> str:
    experiment = loaded.experiment
    finished = n_finished(loaded.study)
    if experiment.replicates.seeds == 0:
        return "this study plans none: it was created with --replicate-seeds 0"
    if experiment.n_trials is not None and finished < experiment.n_trials:
        return (f"it starts once the search budget is finished: {finished} of "
                f"{experiment.n_trials} search trials are")
    return "it has not been planned yet"


def answer_section(loaded: LoadedStudy, answer: effects.Answer | None) -> list[str]:
    """The answer's lines (verdicts, then the arms), or why there is none and how to get it."""
    if answer is not None:
        lines = answer_lines(answer)
        if answer.finished < answer.planned:
            study = shlex.quote(loaded.study.study_name)
            lines.append(f"  to finish the replicate runs: python -m study worker --study "
                         f"{study}, or here: python -m study report --study {study} --ablation")
        return lines
    first, second = replicate_commands(loaded)
    return [(f"The answer: not measured yet. The replicate phase has not run "
            f"({why_not_replicated(loaded)})."),
            "  Single search trials rank configurations; they do not measure effects.",
            f"  Run it with workers:       {first}",
            f"  or here, in this process:  {second}"]


def importance_section(results: list[importance.ImportanceResult], problems: list[str],
                       agreement: str) -> list[str]:
    n_params = max((len(r.importances) for r in results), default=0)
    lines = [(f"Importance of λ ({importance.LAMBDA_PARAM}) among {n_params} parameters (fANOVA "
             "seeded; PED-ANOVA with the objective negated, as optuna-dashboard):")]
    for r in results:
        if r.rank is None:
            lines.append(f"  {r.label}: λ was not searched")
            continue
        shares = ", ".join(f"{k} {v:.3f}" for k, v in r.importances.items())
        lines.append(f"  {r.label}: rank {r.rank} of {n_params}, share {r.share:.3f}  "
                     f"[{shares}]")
    lines += [f"  not computed: {problem}" for problem in problems]
    if results:
        lines.append(f"  {agreement}")
    ped = next((r for r in results if r.evaluator == "ped-anova" and r.epoch is None), None)
    if ped is not None and ped.n_trials < PED_ANOVA_STABLE_TRIALS:
        lines.append(f"  (PED-ANOVA compares the top 10 % of trials with all of them; below "
                     f"{PED_ANOVA_STABLE_TRIALS} complete trials that top holds fewer than 5, "
                     "so read its ranking with care)")
    return lines


def _arm_text(arm: ArmBest) -> str:
    if arm.trial_number is None:
        return "no complete trial"
    lam = f", λ = {arm.lam:.3g}" if arm.lam else ""
    return (f"trial #{arm.trial_number}{lam}, the best of {arm.n_trials} complete: validation "
            f"{_pct(arm.val_accuracy)}, its test {_pct(arm.test_accuracy)}")


def search_section(search: dict[str, Any], effect: LambdaEffect) -> list[str]:
    states = ", ".join(f"{n} {s}" for s, n in sorted(search["trials_by_state"].items()))
    total = sum(search["trials_by_state"].values())
    budget = f", budget {search['budget']}" if search["budget"] else ""
    best = search["best_trial"]
    lines = ["Search phase (single trials rank configurations; they do not measure effects):",
             f"  study {search['study']!r}: {total} trials ({states}){budget}",
             (f"  best trial #{best['number']}: validation accuracy {_pct(best['value'])}, test "
              f"accuracy {_pct(best['test_accuracy'])}; λ = {best['lambda']:.3g}, dropout "
              f"{best['dropout']:.3g}, hidden {best['hidden']}"),
             "  selection-biased, not an effect: the best single trial of each arm",
             f"    λ = 0: {_arm_text(effect.baseline)}",
             f"    λ > 0: {_arm_text(effect.with_lambda)}"]
    if effect.val_gain is not None:
        lines.append(f"    best λ > 0 minus best λ = 0, validation accuracy: "
                     f"{effect.val_gain * 100:+.2f} points (the larger arm's best tends to win)")
    return lines


def summarize(sections: list[list[str]]) -> str:
    """The plain-text summary printed on stdout: the sections, the answer first."""
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


