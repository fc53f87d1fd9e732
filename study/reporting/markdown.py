"""REPORT.md and the dashboard notes: the same answer as the text, in Markdown, with every piece of
study-provided text escaped so that names and labels never become markup or HTML."""

from __future__ import annotations

import math
import re
from pathlib import Path

from study.analysis import effects, importance, statistics
from study.analysis.answer import Decisive
from study.analysis.simultaneous import points
from study.replicates.plan import companion_name
from study.reporting.answer_text import (
    curve_table,
    curve_title,
    effects_lines,
    race_lines,
    rounds_lines,
    use_line,
)
from study.reporting.report_text import replicate_commands, why_not_replicated
from study.service import LoadedStudy

_ANSWER_FIGURES = ("lambda_curve", "effects_forest", "effects_lambda", "effects_differences")
FIGURE_CAPTIONS = {
    "lambda_curve": "The λ curve at the best configuration's dropout and hidden size: mean test "
                    "accuracy over seeds with its simultaneous 95 % band (log λ axis, λ = 0 set "
                    "apart)",
    "effects_forest": "λ, dropout and hidden size on one scale: each effect in accuracy points "
                      "with its 95 % interval (accounting for the pick of the best point or the "
                      "worse end)",
    "effects_lambda": "Replicates: mean accuracy of the λ arms with its 95 % t-interval (log λ "
                      "axis, λ = 0 at the left; the other arms are in the table above)",
    "effects_differences": "Replicates: paired differences with their t-interval and bootstrap "
                           "interval (over seeds and the clips of the split shown: test or holdout)",
    "accuracy_vs_lambda": "Search trials: accuracy against λ (log axis; λ = 0 at the left)",
    "lambda_x_dropout": "Search trials: λ × dropout, coloured by validation accuracy",
    "lambda_x_hidden": "Search trials: λ × hidden size, coloured by validation accuracy",
    "learning_curves": "Learning curves of the best trial and the best λ = 0 trial",
    "accuracy_vs_cost": "Search trials: validation accuracy against training time",
}



# Markup characters; "<" only where it could open a tag, "&" only where it could open an entity.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#]|<(?=[A-Za-z/!?])|&(?=#?\w+;))")


def md(text: str) -> str:
    """Plain text inside Markdown: the characters that would become markup or HTML escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def code(text: str) -> str:
    """A Markdown code span showing `text` literally (never HTML), whatever backticks it holds."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"



def _points(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    return f"{points(low)} … {points(high)}"


def _p_cell(c: effects.Comparison) -> str:
    if math.isnan(c.p_adjusted):
        return ""
    if statistics.significance(c.diff) == "no spread":
        return "no spread"  # every seed gave the same difference: the t-test has no noise to judge
    return "< 0.001" if c.p_adjusted < 0.001 else f"{c.p_adjusted:.3f}"


def _arm_row(split: effects.SplitAnswer, summary: effects.ArmSummary) -> str:
    ci = summary.accuracy
    accuracy = "-"
    if ci is not None:
        accuracy = f"{ci.mean * 100:.1f} " + (f"({ci.low * 100:.1f} … {ci.high * 100:.1f})"
                                              if ci.n >= 2 else "(1 seed)")
    c = split.comparison(f"{summary.arm.key} vs best")
    cells = ["—" if summary.arm.key == "best" else "-", "", ""]
    if c is not None and c.diff is not None:
        cells = [f"{points(c.diff.mean)} ({_points(c.diff.low, c.diff.high)})",
                 "" if c.bootstrap is None else _points(c.bootstrap.low, c.bootstrap.high),
                 _p_cell(c)]
    return f"| {md(summary.arm.label)} | {summary.n} | {accuracy} | " + " | ".join(cells) + " |"


def _verdicts_md(answer: effects.Answer | None, loaded: LoadedStudy) -> list[str]:
    """The lead of REPORT.md and of the notes: the verdicts, one paragraph each."""
    if answer is None:
        first, second = replicate_commands(loaded)
        return [(f"**The answer: not measured yet.** The replicate phase has not run "
                f"({md(why_not_replicated(loaded))}); single search trials rank "
                "configurations, they do not measure effects. Run it with workers: "
                f"{code(first)}, or here, in this process: {code(second)}."), ""]
    lines = [f"**{md(use_line(answer))}**", "", *(f"- {md(line.strip())}"
                                                  for line in race_lines(answer)), ""]
    lines += _curve_md(answer.decisive)
    for decisive, where in ((answer.decisive, "test"), (answer.holdout, "holdout")):
        if decisive is not None and decisive.effects:
            head, *rows = effects_lines(decisive, where)
            lines += [md(head), "", *(f"- {md(row.strip())}" for row in rows), ""]
    for c in answer.test.comparisons:
        if c.key == "reference_claim":
            lines += [f"**{md(c.title)}** (test accuracy): {md(c.verdict)}.", ""]
    head, *rest = rounds_lines(answer)
    return [*lines, md(head), "", *(f"- {md(row.strip())}" for row in rest), ""]


def _curve_md(decisive: Decisive) -> list[str]:
    """The λ curve as a Markdown table: one column per λ."""
    if decisive.curve is None:
        return []
    (first, lams), *rows = curve_table(decisive)
    table = [f"| {md(label)} | " + " | ".join(md(c) for c in cells) + " |"
             for label, cells in rows]
    return [md(curve_title(decisive)), "", f"| {first} | " + " | ".join(lams) + " |",
            "|---" * (len(lams) + 1) + "|", *table, ""]


def _arms_md(answer: effects.Answer) -> list[str]:
    lines = [(f"Replicates of trial {answer.plan.source_trial}'s configuration: "
              f"{answer.plan.seeds} paired seeds per arm, {answer.finished} of {answer.planned} "
              "runs finished. Each arm changes one factor of the best configuration; "
              "differences are paired by seed, their p-values Holm-corrected."), ""]
    for split in answer.splits:
        lines += [f"**{split.split.capitalize()} accuracy**", "",
                  (f"| arm | seeds | {split.split} accuracy, % (95 % CI) | arm − best, points "
                  "(95 % CI) | bootstrap, points (95 %) | Holm p |"),
                  "|---|---:|---|---|---|---:|",
                  *(_arm_row(split, s) for s in split.arms), ""]
    lines += [f"- note: {md(note)}" for note in answer.notes]
    return [*lines, ""] if answer.notes else lines


def _importance_md(results: list[importance.ImportanceResult], agreement: str) -> list[str]:
    if not results:
        return ["Not enough trials for importances.", ""]
    names = list(results[0].importances)
    head = "| parameter | " + " | ".join(md(r.label) for r in results) + " |"
    rows = [head, "|---" * (len(results) + 1) + "|"]
    for name in names:
        cells = " | ".join(f"{r.importances.get(name, float('nan')):.3f}" for r in results)
        rows.append(f"| {code(name)} | {cells} |")
    return [*rows, "", md(agreement), "",
            ("Importances over COMPLETE trials leave pruned trials out; the last column judges "
             "every finished trial, pruned ones included, by its validation accuracy at the "
             "latest epoch all of them reached. fANOVA is seeded; PED-ANOVA uses Optuna's "
             "defaults with the objective negated (it ranks low targets as good), as "
             "optuna-dashboard does."), ""]


def render_markdown(loaded: LoadedStudy, answer: effects.Answer | None, text: dict[str, list[str]],
                    results: list[importance.ImportanceResult], agreement: str,
                    figure_files: list[Path] | None) -> str:
    """REPORT.md (`figure_files` given) or the search study's note (None: no images)."""
    name = code(loaded.study.study_name)
    parts = [] if figure_files is None else \
        [f"# Does the reconstruction loss help? Study {name}", ""]
    parts += _verdicts_md(answer, loaded)
    if answer is not None:
        parts += ["## The answer: replicate runs", "", *_arms_md(answer)]
        if figure_files is not None:
            for path in figure_files:
                if path.suffix == ".png" and path.stem in _ANSWER_FIGURES:
                    parts += [f"![{path.stem}]({path.name})", "",
                              f"*{FIGURE_CAPTIONS[path.stem]}*", ""]
    parts += ["## Parameter importances", "", *_importance_md(results, agreement),
              "## Search phase", "", *(f"    {line}" for line in text["search"][1:]), ""]
    if figure_files is None:
        parts += [SEARCH_PANELS, ""]
        parts.append(f"The figures (PNG, interactive `figures.html`) and `REPORT.md` are this "
                     f"study's artifacts; each trial's learning curve is a trial artifact. "
                     f"The replicate runs are the study "
                     f"{code(companion_name(loaded.study.study_name))}.")
        return "\n".join(parts)
    parts += ["## Figures", "", "Interactive versions: [figures.html](figures.html).", ""]
    for path in figure_files:  # the effects figures are shown with the answer, above
        if path.suffix == ".png" and path.stem not in _ANSWER_FIGURES:
            parts += [f"### {FIGURE_CAPTIONS.get(path.stem, md(path.stem))}", "",
                      f"![{path.stem}]({path.name})", ""]
    return "\n".join(parts)


SEARCH_PANELS = (
    "On this study's page, the plots \"The λ curve …\" and \"The three effects …\" are the "
    "answer (replicate runs, test accuracy, simultaneous 95 % intervals). The built-in panels "
    "describe the search: \"Best Trial\" is its best single run on validation accuracy (that "
    "run's luck included, not the configuration to use), the history plots its trials, and the "
    "importance chart ranks how much each parameter moved the search's validation accuracy, "
    "which is not the size of its effect.")


def render_replicates_note(loaded: LoadedStudy, answer: effects.Answer) -> str:
    """The replicates study's note: the verdicts, then its arms."""
    return "\n".join([
        *_verdicts_md(answer, loaded),
        f"## Replicate runs of study {code(loaded.study.study_name)}", "", *_arms_md(answer),
        ("Each trial of this study is one run of one arm with one seed (user attributes `arm`, "
         "`seed`); its value is the run's validation accuracy, the tables use test accuracy. "
         "Its parameters are the arm's configuration in the search's own space, so the "
         "importance panel says which parameter moves the replicated accuracy; the history "
         "plot's \"best value\" line and the \"Best Trial\" card mean nothing here (these "
         "runs are not a search: \"Best Trial\" is the luckiest single run, the winner is the "
         "highest replicated mean above). The plots \"The λ curve …\" and \"The three "
         "effects …\" on this study's page are the answer's; the effects figures are this "
         "study's artifacts.")])


