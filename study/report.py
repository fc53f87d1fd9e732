"""`python -m study report`: how much λ matters in a study, as REPORT.md, figures, a text
summary on stdout, the study's dashboard note and dashboard artifacts.

`build_report` does the work on a loaded study (tests call it directly); `main` / `run_from_args`
are the command line (`add_arguments` adds the report's own flags to a parser that already has
the shared ones from `study.options`).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from study import analysis, artifacts, effects, figures
LEARNING_CURVE_ARTIFACT = "learning_curve.png"
# Optuna's docs: PED-ANOVA wants at least 5 trials above its target quantile (10 % by default).
PED_ANOVA_STABLE_TRIALS = 50


@dataclass
class Report:
    summary: str  # plain text, for stdout
    markdown: str  # REPORT.md
    note: str  # the study's dashboard note (Markdown)
    files: list[Path] = field(default_factory=list)
    importances: list[analysis.ImportanceResult] = field(default_factory=list)
    effect: analysis.LambdaEffect | None = None
    answer: effects.Answer | None = None
    study_artifacts: dict[str, str] = field(default_factory=dict)  # filename → artifact id
    trial_artifacts: int = 0  # learning curves uploaded by this run

    @property
    def data(self) -> dict:
        """The numbers of the report, for `--format json`."""
        return {"answer": None if self.answer is None else self.answer.as_dict(),
                "importances": [r.to_dict() for r in self.importances],
                "search_lambda_effect": None if self.effect is None else self.effect.to_dict(),
                "files": [str(p) for p in self.files]}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _importances(study: optuna.Study, seed: int) -> tuple[list[analysis.ImportanceResult],
                                                          list[str]]:
    results, problems = [], []
    for name in analysis.EVALUATORS:
        try:
            results.append(analysis.param_importance(study, name, seed=seed))
        except (ValueError, RuntimeError) as exc:
            problems.append(f"{name}: {exc}")
    return results, problems


def _state_counts(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def _arm_line(label: str, arm: analysis.ArmBest) -> str:
    if arm.trial_number is None:
        return f"{label}: no complete trials"
    lam = "" if not arm.lam else f", λ = {arm.lam:.4g}"
    return (f"{label} ({arm.n_trials} trials): best val {_pct(arm.val_accuracy)} "
            f"(trial #{arm.trial_number}{lam}), its test {_pct(arm.test_accuracy)}")


def _verdict(stats: analysis.AblationStats) -> str:
    d = stats.difference
    if math.isnan(d.low):
        return "one seed per arm: no confidence interval; run with --seeds 2 or more"
    if d.low > 0:
        return "the reconstruction loss helps (the 95 % CI of the paired difference is above 0)"
    if d.high < 0:
        return "the reconstruction loss hurts (the 95 % CI of the paired difference is below 0)"
    return "no significant difference at 95 % (the paired difference's CI contains 0)"


def _ablation_lines(result: AblationResult) -> list[str]:
    p, s = result.plan, result.stats
    lines = [(f"Ablation: trial #{p.trial_number}'s configuration (dropout {p.dropout:.3g}, "
             f"hidden {p.hidden}), λ = {p.lam:.4g} vs λ = 0, {len(result.with_lambda)} seeds "
             "each, test accuracy:")]
    if p.note:
        lines.append(f"  note: {p.note}")
    p_value = "n/a" if math.isnan(s.p_value) else f"{s.p_value:.3g}"
    lines += [f"  λ = {p.lam:.4g}: {s.with_lambda.format(unit=' %')}",
              f"  λ = 0: {s.without_lambda.format(unit=' %')}",
              (f"  paired difference: {s.difference.format(unit=' points')}; paired t-test "
              f"p = {p_value}"),
              f"  → {_verdict(s)}"]
    return lines


def summarize(study: optuna.Study, importances: list[analysis.ImportanceResult],
              problems: list[str], effect: analysis.LambdaEffect,
              ablation: AblationResult | None) -> str:
    """The plain-text summary printed on stdout (and the core of REPORT.md and the note)."""
    counts = _state_counts(study)
    total = sum(counts.values())
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines = [(f"Study {study.study_name!r} ({study.direction.name.lower()} validation accuracy): "
             f"{total} trials ({states or 'none'})"), ""]
    n_params = max((len(r.importances) for r in importances), default=0)
    lines.append(f"Importance of λ ({analysis.LAMBDA_PARAM}):")
    for r in importances:
        label = "fANOVA (seeded)" if r.evaluator == "fanova" else "PED-ANOVA"
        if r.rank is None:
            lines.append(f"  {label}: λ was not searched")
            continue
        others = ", ".join(f"{k} {v:.3f}" for k, v in r.importances.items())
        lines.append(f"  {label}: rank {r.rank} of {n_params}, share {r.share:.3f} "
                     f"over {r.n_trials} complete trials  [{others}]")
    ped = next((r for r in importances if r.evaluator == "ped-anova"), None)
    if ped is not None and ped.n_trials < PED_ANOVA_STABLE_TRIALS:
        lines.append(f"  (PED-ANOVA compares the top 10 % of trials with all of them; below "
                     f"{PED_ANOVA_STABLE_TRIALS} complete trials that top holds fewer than 5, "
                     "so read its ranking with care)")
    for problem in problems:
        lines.append(f"  not computed — {problem}")
    lines += ["", "λ effect (best validation trial of each arm; test accuracy of that trial):",
              "  " + _arm_line("λ = 0", effect.baseline),
              "  " + _arm_line("λ > 0", effect.with_lambda)]
    if effect.val_gain is not None:
        lines.append(f"  best validation accuracy, λ > 0 minus λ = 0: "
                     f"{effect.val_gain * 100:+.2f} points")
    if ablation is not None:
        lines += ["", *_ablation_lines(ablation)]
    else:
        lines += ["", ("Ablation: not run (python -m study report --ablation --seeds K retrains the "
                  "best configuration with and without λ)")]
    return "\n".join(lines)


def _importance_table(importances: list[analysis.ImportanceResult]) -> list[str]:
    if not importances:
        return []
    names = list(importances[0].importances)
    head = "| parameter | " + " | ".join(
        "fANOVA" if r.evaluator == "fanova" else "PED-ANOVA" for r in importances) + " |"
    rows = [head, "|---" * (len(importances) + 1) + "|"]
    for name in names:
        cells = " | ".join(f"{r.importances.get(name, float('nan')):.3f}" for r in importances)
        rows.append(f"| `{name}` | {cells} |")
    rows.append("| complete trials | " + " | ".join(str(r.n_trials) for r in importances) + " |")
    return rows


FIGURE_CAPTIONS = {
    "accuracy_vs_lambda": "Accuracy against λ (log axis; λ = 0 at the left)",
    "lambda_x_dropout": "λ × dropout, coloured by validation accuracy",
    "lambda_x_hidden": "λ × hidden size, coloured by validation accuracy",
    "learning_curves": "Learning curves of the best trial and the best λ = 0 trial",
    "accuracy_vs_cost": "Validation accuracy against training time",
}


def render_markdown(study: optuna.Study, summary: str,
                    importances: list[analysis.ImportanceResult], figure_files: list[Path],
                    ablation: AblationResult | None) -> str:
    parts = [f"# Report: study `{study.study_name}`", "", "```text", summary, "```", "",
             "## Parameter importances", "", *_importance_table(importances), "",
             ("Importances rest on COMPLETE trials only; pruned trials are not counted. fANOVA "
             "is seeded; PED-ANOVA uses Optuna's defaults with the objective negated (it ranks "
             "low targets as good), as optuna-dashboard does."), ""]
    if ablation is not None:
        parts += ["## Ablation runs (test accuracy)", "", "| seed | λ | λ = 0 | difference |",
                  "|---|---|---|---|"]
        for a, b in zip(ablation.with_lambda, ablation.without_lambda, strict=True):
            parts.append(f"| {a.seed} | {a.test_accuracy:.4f} | {b.test_accuracy:.4f} | "
                         f"{a.test_accuracy - b.test_accuracy:+.4f} |")
        parts.append("")
    parts += ["## Figures", "", "Interactive versions: [figures.html](figures.html).", ""]
    for path in figure_files:
        if path.suffix == ".png":
            parts += [f"### {FIGURE_CAPTIONS.get(path.stem, path.stem)}", "",
                      f"![{path.stem}]({path.name})", ""]
    return "\n".join(parts)


def render_note(study: optuna.Study, summary: str,
                importances: list[analysis.ImportanceResult], uploaded: bool) -> str:
    lines = [f"## How much λ matters in `{study.study_name}`", "", "```text", summary, "```", "",
             *_importance_table(importances), ""]
    if uploaded:
        lines.append("Figures (PNG, interactive `figures.html`) and `REPORT.md` are the study's "
                     "artifacts below; each trial's learning curve is a trial artifact.")
    return "\n".join(lines)


def _best_baseline(study: optuna.Study) -> FrozenTrial | None:
    zero = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if analysis.effective_lambda(t) == 0.0]
    return max(zero, key=lambda t: float(t.value), default=None)


def upload_learning_curves(study: optuna.Study, store) -> int:
    """Each finished trial's validation curve as a PNG trial artifact (once per trial)."""
    uploaded = 0
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    pngs = figures.LearningCurvePNGs()
    try:
        with tempfile.TemporaryDirectory(prefix="study-curves-") as tmp:
            path = Path(tmp) / LEARNING_CURVE_ARTIFACT
            for trial in study.get_trials(deepcopy=False, states=states):
                if artifacts.trial_has_artifact(study, trial, LEARNING_CURVE_ARTIFACT):
                    continue
                if pngs.write(trial, path):
                    artifacts.put_trial_artifact(study, trial, store, path)
                    uploaded += 1
    finally:
        pngs.close()
    return uploaded


def build_report(loaded, output_dir: Path, *, artifact_store=None, seed: int = 0,
                 save_note: bool = True) -> Report:
    """Analyse the study, write REPORT.md and figures to `output_dir`, and (with a store) upload
    them as study artifacts, the learning curves as trial artifacts, and the summary as the
    study's note."""
    from study.errors import UserError

    study = loaded.study
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UserError(f"study {study.study_name!r} has no complete trials yet; run workers "
                        "first (python -m study worker)")
    answer = effects.answer_of(study)
    ablation = None
    importances, problems = _importances(study, seed)
    effect = analysis.lambda_effect(study, loaded.experiment.search)
    summary = summarize(study, importances, problems, effect, ablation)
    if answer is not None:
        summary = "\n".join(effects.answer_lines(answer)) + "\n\n" + summary
    specs = figures.report_figures(study, study.best_trial, _best_baseline(study))
    output_dir.mkdir(parents=True, exist_ok=True)
    files = figures.write_figures(specs, output_dir, title=f"Study {study.study_name}")
    markdown = render_markdown(study, summary, importances, files, ablation)
    report_md = output_dir / "REPORT.md"
    report_md.write_text(markdown + "\n", encoding="utf-8")
    files.insert(0, report_md)
    report = Report(summary=summary, markdown=markdown, files=files, importances=importances,
                    effect=effect, answer=answer,
                    note=render_note(study, summary, importances, artifact_store is not None))
    if artifact_store is not None:
        for path in files:
            report.study_artifacts[path.name] = artifacts.put_study_artifact(
                study, artifact_store, path)
        report.trial_artifacts = upload_learning_curves(study, artifact_store)
    if save_note:
        from optuna_dashboard import save_note as dashboard_save_note

        dashboard_save_note(study, report.note)
    return report


# ---------------------------------------------------------------------------- command line


def _ablation(loaded, args: argparse.Namespace) -> None:
    """`--ablation`: the replicate phase, run here and now (serially) before the report."""
    import dataclasses
    import sys

    from study import replicates
    from study.cli import heartbeat
    from study.run import worker_options
    from study.worker import run_worker

    seeds = max(args.seeds or loaded.experiment.replicates.seeds or 3, 1)
    phase = replicates.ensure_planned(loaded, seeds=seeds,
                                      log=lambda message: print(message, file=sys.stderr))
    if phase is None:
        return
    args.heartbeat_interval = args.heartbeat_grace = None
    args.model_dir = getattr(args, "model_dir", None)
    options = worker_options(args, search=False)
    run_worker(dataclasses.replace(options, slot=None, heartbeat=heartbeat(args),
                                   quiet=True, device=args.device))


def report_command(args: argparse.Namespace):
    from study import defaults
    from study.cli import Output, open_checked

    loaded = open_checked(args)
    store = None
    if not args.no_artifacts:
        store = artifacts.open_artifact_store(defaults.artifacts(args.artifacts))
    if args.ablation:
        _ablation(loaded, args)
    output = (args.output or Path(defaults.REPORT_DIR)).expanduser().absolute()
    report = build_report(loaded, output, artifact_store=store, seed=loaded.experiment.seed,
                          save_note=store is not None)
    lines = [report.summary, "", f"Report: {output / 'REPORT.md'} (figures: "
             f"{output / 'figures.html'})"]
    if store is not None:
        lines.append(f"Dashboard: notes saved, {len(report.study_artifacts)} study artifacts and "
                     f"{report.trial_artifacts} new learning curves uploaded; open it with "
                     "python -m study dashboard")
    return Output(report.data, "\n".join(lines))
