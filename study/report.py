"""`python -m study report`: does the reconstruction loss (λ) help, by how much, relative to
dropout and hidden size — as a text summary, REPORT.md, figures (PNG and interactive), the
dashboard notes of the search study and of its replicates study, and dashboard artifacts.

Everything leads with the answer of the replicate phase (`study.effects`: verdicts, then the table
of arms); then the importances (over COMPLETE trials and over every finished trial, each with the
number of trials it rests on); then the search phase, whose best-vs-best λ gap is labelled
selection-biased. `--format json` gives the same numbers (`Report.data`).

`build_report` does the work on a loaded study (tests call it directly); `report_command` is the
command, whose `--ablation --seeds K` first runs the replicate phase in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from objectives.search_space import from_params
from study import analysis, artifacts, effects, figures, replicates, statistics, summary
from study.cli import finite
from study.errors import UserError

LEARNING_CURVE_ARTIFACT = "learning_curve.png"
# Optuna's docs: PED-ANOVA wants at least 5 trials above its target quantile (10 % by default).
PED_ANOVA_STABLE_TRIALS = 50
DEFAULT_SEEDS = 3  # seeds per arm of `--ablation` at least, unless --seeds says otherwise
REPLICATE_FILES = ("REPORT.md", "effects_lambda.png", "effects_differences.png", "effects.html")
FIGURE_CAPTIONS = {
    "effects_lambda": "Replicates: mean accuracy per arm with its 95 % t-interval (λ arms on a "
                      "log axis, λ = 0 at the left)",
    "effects_differences": "Replicates: paired differences with their t-interval and bootstrap "
                           "interval (over seeds and test clips)",
    "accuracy_vs_lambda": "Search trials: accuracy against λ (log axis; λ = 0 at the left)",
    "lambda_x_dropout": "Search trials: λ × dropout, coloured by validation accuracy",
    "lambda_x_hidden": "Search trials: λ × hidden size, coloured by validation accuracy",
    "learning_curves": "Learning curves of the best trial and the best λ = 0 trial",
    "accuracy_vs_cost": "Search trials: validation accuracy against training time",
}


@dataclass
class Report:
    summary: str  # plain text, for stdout
    markdown: str  # REPORT.md
    note: str  # the search study's dashboard note (Markdown)
    replicates_note: str | None = None  # the replicates study's note (None: no answer yet)
    files: list[Path] = field(default_factory=list)
    answer: effects.Answer | None = None
    importances: list[analysis.ImportanceResult] = field(default_factory=list)
    importance_problems: list[str] = field(default_factory=list)
    agreement: str = ""  # do the evaluators agree on λ's rank
    search: dict[str, Any] = field(default_factory=dict)
    study_artifacts: dict[str, str] = field(default_factory=dict)  # filename → artifact id
    replicates_artifacts: dict[str, str] = field(default_factory=dict)
    trial_artifacts: int = 0  # learning curves uploaded by this run

    @property
    def data(self) -> dict[str, Any]:
        """The numbers of the report, for `--format json` (nan and ±inf become null)."""
        return finite({
            "answer": None if self.answer is None else self.answer.as_dict(),
            "importances": [r.to_dict() for r in self.importances],
            "importance_agreement": self.agreement,
            "importance_problems": self.importance_problems, "search": self.search,
            "files": [str(p) for p in self.files], "study_artifacts": self.study_artifacts,
            "replicates_artifacts": self.replicates_artifacts,
            "trial_artifacts": self.trial_artifacts})


# --------------------------------------------------------------------------- Markdown safety

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


# --------------------------------------------------------------------------- the numbers


def _importances(study: optuna.Study, seed: int) -> tuple[list[analysis.ImportanceResult],
                                                          list[str]]:
    """fANOVA and PED-ANOVA over COMPLETE trials, fANOVA over every finished trial."""
    results, problems = [], []
    computations = [(name, lambda name=name: analysis.param_importance(study, name, seed=seed))
                    for name in analysis.EVALUATORS]
    computations.append(("fanova over all finished trials",
                         lambda: analysis.importance_all_trials(study, seed=seed)))
    for name, compute in computations:
        try:
            results.append(compute())
        except (ValueError, RuntimeError) as exc:
            problems.append(f"{name}: {exc}")
    return results, problems


def _state_counts(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def _search_facts(loaded: Any, effect: analysis.LambdaEffect) -> dict[str, Any]:
    study, bounds = loaded.study, loaded.experiment.search
    best = summary.best_trial(study)
    p = from_params(best.params, bounds)
    return {"study": study.study_name, "trials_by_state": _state_counts(study),
            "budget": loaded.experiment.n_trials,
            "best_trial": {"number": best.number, "value": best.value,
                           "test_accuracy": best.user_attrs.get("test_accuracy"),
                           "lambda": p.lam, "dropout": p.dropout, "hidden": p.hidden},
            "selection_biased_lambda_gap": {
                **effect.to_dict(),
                "caveat": "the best single trial of each arm: selection-biased, not an effect"}}


# --------------------------------------------------------------------------- text


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _replicate_commands(loaded: Any) -> list[str]:
    seeds = loaded.experiment.replicates.seeds or DEFAULT_SEEDS
    study = shlex.quote(loaded.study.study_name)
    return [f"python -m study replicate --study {study} --seeds {seeds}",
            f"python -m study report --study {study} --ablation --seeds {seeds}"]


def _why_not_replicated(loaded: Any) -> str:
    experiment = loaded.experiment
    finished = len(analysis.finished_trials(loaded.study))
    if experiment.replicates.seeds == 0:
        return "this study plans none: it was created with --replicate-seeds 0"
    if experiment.n_trials is not None and finished < experiment.n_trials:
        return (f"it starts once the search budget is finished: {finished} of "
                f"{experiment.n_trials} search trials are")
    return "it has not been planned yet"


def answer_section(loaded: Any, answer: effects.Answer | None) -> list[str]:
    """The answer's lines (verdicts, then the arms), or why there is none and how to get it."""
    if answer is not None:
        lines = effects.answer_lines(answer)
        if answer.finished < answer.planned:
            study = shlex.quote(loaded.study.study_name)
            lines.append(f"  to finish the replicate runs: python -m study worker --study "
                         f"{study}, or here: python -m study report --study {study} --ablation")
        return lines
    first, second = _replicate_commands(loaded)
    return [(f"The answer: not measured yet. The replicate phase has not run "
            f"({_why_not_replicated(loaded)})."),
            "  Single search trials rank configurations; they do not measure effects.",
            f"  Run it with workers:       {first}",
            f"  or here, in this process:  {second}"]


def importance_section(results: list[analysis.ImportanceResult], problems: list[str],
                       agreement: str) -> list[str]:
    n_params = max((len(r.importances) for r in results), default=0)
    lines = [(f"Importance of λ ({analysis.LAMBDA_PARAM}) among {n_params} parameters (fANOVA "
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


def _arm_text(arm: analysis.ArmBest) -> str:
    if arm.trial_number is None:
        return "no complete trial"
    lam = f", λ = {arm.lam:.3g}" if arm.lam else ""
    return (f"trial #{arm.trial_number}{lam}, the best of {arm.n_trials} complete: validation "
            f"{_pct(arm.val_accuracy)}, its test {_pct(arm.test_accuracy)}")


def search_section(search: dict[str, Any], effect: analysis.LambdaEffect) -> list[str]:
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


# --------------------------------------------------------------------------- Markdown


def _points(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    return f"{low * 100:+.1f} … {high * 100:+.1f}"


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
        cells = [f"{c.diff.mean * 100:+.1f} ({_points(c.diff.low, c.diff.high)})",
                 "" if c.bootstrap is None else _points(c.bootstrap.low, c.bootstrap.high),
                 _p_cell(c)]
    return f"| {md(summary.arm.label)} | {summary.n} | {accuracy} | " + " | ".join(cells) + " |"


def _verdicts_md(answer: effects.Answer | None, loaded: Any) -> list[str]:
    """The lead of REPORT.md and of the notes: the verdicts, one paragraph each."""
    if answer is None:
        first, second = _replicate_commands(loaded)
        return [(f"**The answer: not measured yet.** The replicate phase has not run "
                f"({md(_why_not_replicated(loaded))}); single search trials rank "
                "configurations, they do not measure effects. Run it with workers: "
                f"{code(first)}, or here, in this process: {code(second)}."), ""]
    lines = []
    for split in answer.splits:
        for c in split.comparisons:
            if c.key in ("lambda_effect", "reference_claim"):
                boot = "" if c.bootstrap is None or "over test clips" in c.verdict else \
                    (f" Over test clips and seeds (bootstrap): "
                     f"{_points(c.bootstrap.low, c.bootstrap.high)} points.")
                lines += [f"**{md(c.title)}** ({split.split} accuracy): {md(c.verdict)}.{boot}",
                          ""]
    return lines or [f"**{md(answer.headline)}**", ""]


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


def _importance_md(results: list[analysis.ImportanceResult], agreement: str) -> list[str]:
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


def render_markdown(loaded: Any, answer: effects.Answer | None, text: dict[str, list[str]],
                    results: list[analysis.ImportanceResult], agreement: str,
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
                if path.suffix == ".png" and path.stem.startswith("effects_"):
                    parts += [f"![{path.stem}]({path.name})", "",
                              f"*{FIGURE_CAPTIONS[path.stem]}*", ""]
    parts += ["## Parameter importances", "", *_importance_md(results, agreement),
              "## Search phase", "", *(f"    {line}" for line in text["search"][1:]), ""]
    if figure_files is None:
        parts.append(f"The figures (PNG, interactive `figures.html`) and `REPORT.md` are this "
                     f"study's artifacts; each trial's learning curve is a trial artifact. "
                     f"The replicate runs are the study "
                     f"{code(replicates.companion_name(loaded.study.study_name))}.")
        return "\n".join(parts)
    parts += ["## Figures", "", "Interactive versions: [figures.html](figures.html).", ""]
    for path in figure_files:  # the effects figures are shown with the answer, above
        if path.suffix == ".png" and not path.stem.startswith("effects_"):
            parts += [f"### {FIGURE_CAPTIONS.get(path.stem, md(path.stem))}", "",
                      f"![{path.stem}]({path.name})", ""]
    return "\n".join(parts)


def render_replicates_note(loaded: Any, answer: effects.Answer) -> str:
    """The replicates study's note: the verdicts, then its arms."""
    return "\n".join([
        *_verdicts_md(answer, loaded),
        f"## Replicate runs of study {code(loaded.study.study_name)}", "", *_arms_md(answer),
        ("Each trial of this study is one run of one arm with one seed (user attributes `arm`, "
         "`seed`); its value is the run's validation accuracy, the tables use test accuracy. "
         "The effects figures are this study's artifacts.")])


# --------------------------------------------------------------------------- files, uploads


def _best_baseline(study: optuna.Study, bounds: Any) -> FrozenTrial | None:
    zero = [t for t in analysis.complete_trials(study)
            if analysis.effective_lambda(t, bounds) == 0.0]
    return max(zero, key=lambda t: float(t.value), default=None)


def upload_learning_curves(study: optuna.Study, store) -> int:
    """Each finished trial's validation curve as a PNG trial artifact (once per trial)."""
    uploaded = 0
    pngs = figures.LearningCurvePNGs()
    try:
        with tempfile.TemporaryDirectory(prefix="study-curves-") as tmp:
            path = Path(tmp) / LEARNING_CURVE_ARTIFACT
            for trial in analysis.finished_trials(study):
                if artifacts.trial_has_artifact(study, trial, LEARNING_CURVE_ARTIFACT):
                    continue
                if pngs.write(trial, path):
                    artifacts.put_trial_artifact(study, trial, store, path)
                    uploaded += 1
    finally:
        pngs.close()
    return uploaded


def _write_files(loaded: Any, answer: effects.Answer | None, output_dir: Path) -> list[Path]:
    study = loaded.study
    effect_specs = [] if answer is None else figures.effect_figures(answer)
    specs = effect_specs + figures.report_figures(
        study, summary.best_trial(study), _best_baseline(study, loaded.experiment.search))
    title = f"Study {study.study_name}"
    files = figures.write_figures(specs, output_dir, title=title)
    if effect_specs:
        files.append(figures.write_html(effect_specs, output_dir / "effects.html",
                                        title=f"{title}: replicate runs"))
    return files


def build_report(loaded: Any, output_dir: Path, *, artifact_store=None, seed: int = 0,
                 save_note: bool = True) -> Report:
    """Analyse `loaded` (a service.LoadedStudy), write REPORT.md and the figures to
    `output_dir`, and with a store upload them as artifacts of the search study (the effects
    figures also of the replicates study) and the learning curves as trial artifacts; with
    `save_note`, the dashboard notes of both studies."""
    study = loaded.study
    if not analysis.complete_trials(study):
        raise UserError(f"study {study.study_name!r} has no complete trials yet; run workers "
                        "first (python -m study worker)")
    answer = effects.answer_of(study)
    results, problems = _importances(study, seed)
    agreement = analysis.rank_agreement(results)
    effect = analysis.lambda_effect(study, loaded.experiment.search)
    search = _search_facts(loaded, effect)
    text = {"answer": answer_section(loaded, answer),
            "importance": importance_section(results, problems, agreement),
            "search": search_section(search, effect)}
    output_dir.mkdir(parents=True, exist_ok=True)
    files = _write_files(loaded, answer, output_dir)
    markdown = render_markdown(loaded, answer, text, results, agreement, files)
    report_md = output_dir / "REPORT.md"
    report_md.write_text(markdown + "\n", encoding="utf-8")
    files.insert(0, report_md)
    report = Report(summary=summarize(list(text.values())), markdown=markdown,
                    note=render_markdown(loaded, answer, text, results, agreement, None),
                    replicates_note=None if answer is None else
                    render_replicates_note(loaded, answer),
                    files=files, answer=answer, importances=results,
                    importance_problems=problems, agreement=agreement, search=search)
    companion = None if answer is None else replicates.open_companion(study, create=False)
    if artifact_store is not None:
        for path in files:
            report.study_artifacts[path.name] = artifacts.put_study_artifact(
                study, artifact_store, path)
        if companion is not None:
            for path in files:
                if path.name in REPLICATE_FILES:
                    report.replicates_artifacts[path.name] = artifacts.put_study_artifact(
                        companion, artifact_store, path)
        report.trial_artifacts = upload_learning_curves(study, artifact_store)
    if save_note:
        from optuna_dashboard import save_note as dashboard_save_note

        from study import service

        if study.metric_names is None:  # a study created before the service named it
            service.name_metric(study)
        dashboard_save_note(study, report.note)
        if companion is not None:
            dashboard_save_note(companion, report.replicates_note)
    return report


# --------------------------------------------------------------------------- command line


def _ablation(loaded: Any, args: argparse.Namespace) -> Any:
    """`--ablation`: plan (or extend) the replicate phase to --seeds K per arm and serve it in
    this process, through the worker's replicate phase (the real objective of the study)."""
    from study import launcher, service
    from study.run import worker_options
    from study.worker import run_worker

    experiment, name = loaded.experiment, loaded.study.study_name
    replicates.require_finished_search(loaded, then="python -m study report --ablation")
    seeds = args.seeds or max(experiment.replicates.seeds, DEFAULT_SEEDS)
    if experiment.replicates.seeds < seeds:
        print(f"replicates of study {name!r}: {experiment.replicates.seeds} → {seeds} seeds per "
              "arm", file=sys.stderr)
        loaded = service.save_replicates(loaded, seeds=seeds)
    replicates.ensure_planned(loaded, seeds=seeds,
                              log=lambda message: print(message, file=sys.stderr))
    slot = launcher.plan("cpu" if args.device == "cpu" else "auto", 1)[0]
    launcher.apply_slot_environment(slot)  # one process: every core, or the first GPU
    options = worker_options(args, search=False)
    run_worker(dataclasses.replace(options, slot=slot.label, threads=slot.threads,
                                   device=None if args.device == "auto" else args.device))
    return loaded


def report_command(args: argparse.Namespace):
    from study import defaults
    from study.cli import Output, open_checked

    loaded = open_checked(args)
    store = None
    if not args.no_artifacts:
        store = artifacts.open_artifact_store(defaults.artifacts(args.artifacts))
    output = (args.output or Path(defaults.REPORT_DIR)).expanduser().absolute()
    # stdout carries the report alone (`--format json` is read by scripts): whatever training
    # or a library prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        if args.ablation:
            loaded = _ablation(loaded, args)
        report = build_report(loaded, output, artifact_store=store, seed=loaded.experiment.seed,
                              save_note=store is not None)
    lines = [report.summary, "", (f"Report: {output / 'REPORT.md'} (figures: "
             f"{output / 'figures.html'})")]
    if store is not None:
        companion = ", and the replicates study's" if report.replicates_note else ""
        lines.append(f"Dashboard: the study's note saved{companion}; "
                     f"{len(report.study_artifacts)} study artifacts and "
                     f"{report.trial_artifacts} new learning curves uploaded; open it with "
                     "python -m study dashboard")
    return Output(report.data, "\n".join(lines))
