"""The report: does the reconstruction loss (λ) help, by how much, relative to dropout and hidden
size — as a text summary, REPORT.md, figures (PNG and interactive), the dashboard notes of the
search study and of its replicates study, and dashboard artifacts.

Everything leads with the answer of the replicate phase (`study.analysis.effects`: verdicts, then
the table of arms); then the importances (over COMPLETE trials and over every finished trial, each
with the number of trials it rests on); then the search phase, whose best-vs-best λ gap is
labelled selection-biased. `--format json` gives the same numbers (`Report.data`).
`build_report` does the work on a loaded study (tests call it directly).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from objectives import SearchBounds, effective_lambda, from_params
from study.analysis import effects, importance, search_gap
from study.errors import UserError
from study.output import finite
from study.replicates.plan import open_companion
from study.replicates.runs import answer_of
from study.reporting import artifacts, curve_figures, effect_figures, report_text, search_figures
from study.reporting.answer_text import answer_attribute, use_line
from study.reporting.dashboard_plots import save_answer_plots
from study.reporting.drawing import write_figures, write_html
from study.reporting.markdown import SEARCH_PANELS, render_markdown, render_replicates_note
from study.service import LoadedStudy, name_metric, publish_answer
from study.trials import best_trial, count_states

LEARNING_CURVE_ARTIFACT = "learning_curve.png"
REPLICATE_FILES = ("REPORT.md", "lambda_curve.png", "effects_forest.png", "effects_lambda.png",
                   "effects_differences.png", "effects.html")


@dataclass
class Report:
    summary: str  # plain text, for stdout
    markdown: str  # REPORT.md
    note: str  # the search study's dashboard note (Markdown)
    replicates_note: str | None = None  # the replicates study's note (None: no answer yet)
    files: list[Path] = field(default_factory=list)
    answer: effects.Answer | None = None
    importances: list[importance.ImportanceResult] = field(default_factory=list)
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


def _search_facts(loaded: LoadedStudy, effect: search_gap.LambdaEffect) -> dict[str, Any]:
    study, bounds = loaded.study, loaded.experiment.search
    best = best_trial(study)
    p = from_params(best.params, bounds)
    return {"study": study.study_name, "trials_by_state": {state.lower(): n for state, n in count_states(
                study.get_trials(deepcopy=False)).items() if n},
            "budget": loaded.experiment.n_trials,
            "best_trial": {"number": best.number, "value": best.value,
                           "test_accuracy": best.user_attrs.get("test_accuracy"),
                           "lambda": p.lam, "dropout": p.dropout, "hidden": p.hidden},
            "selection_biased_lambda_gap": {
                **effect.to_dict(),
                "caveat": "the best single trial of each arm: selection-biased, not an effect"}}


def _best_baseline(study: optuna.Study, bounds: SearchBounds) -> FrozenTrial | None:
    zero = [t for t in importance.complete_trials(study) if effective_lambda(t, bounds) == 0.0]
    return max(zero, key=lambda t: float(t.value), default=None)


def upload_learning_curves(study: optuna.Study, store) -> int:
    """Each finished trial's validation curve as a PNG trial artifact (once per trial)."""
    uploaded = 0
    pngs = search_figures.LearningCurvePNGs()
    try:
        with tempfile.TemporaryDirectory(prefix="study-curves-") as tmp:
            path = Path(tmp) / LEARNING_CURVE_ARTIFACT
            for trial in importance.finished_trials(study):
                if artifacts.trial_has_artifact(study, trial, LEARNING_CURVE_ARTIFACT):
                    continue
                if pngs.write(trial, path):
                    artifacts.put_trial_artifact(study, trial, store, path)
                    uploaded += 1
    finally:
        pngs.close()
    return uploaded


def _write_files(loaded: LoadedStudy, answer: effects.Answer | None, output_dir: Path) -> list[Path]:
    study = loaded.study
    effect_specs = [] if answer is None else (curve_figures.decisive_figures(answer)
                                             + effect_figures.effect_figures(answer))
    specs = effect_specs + search_figures.report_figures(
        study, best_trial(study), _best_baseline(study, loaded.experiment.search))
    title = f"Study {study.study_name}"
    files = write_figures(specs, output_dir, title=title)
    if effect_specs:
        files.append(write_html(effect_specs, output_dir / "effects.html",
                                title=f"{title}: replicate runs"))
    return files


def build_report(loaded: LoadedStudy, output_dir: Path, *, artifact_store=None, seed: int = 0,
                 save_note: bool = True) -> Report:
    """Analyse `loaded` (a service.LoadedStudy), write REPORT.md and the figures to
    `output_dir`, and with a store upload them as artifacts of the search study (the effects
    figures also of the replicates study) and the learning curves as trial artifacts; with
    `save_note`, the dashboard notes of both studies."""
    study = loaded.study
    if not importance.complete_trials(study):
        raise UserError(f"study {study.study_name!r} has no complete trials yet; run workers "
                        "first (python -m study worker)")
    answer = answer_of(study)
    results, failed = importance.compute_importances(study, seed=seed)
    problems = [f"{name}: {message}" for name, message in failed]
    agreement = importance.rank_agreement(results)
    effect = search_gap.lambda_effect(study, loaded.experiment.search)
    search = _search_facts(loaded, effect)
    sections = {"answer": report_text.answer_section(loaded, answer),
                "importance": report_text.importance_section(results, problems, agreement),
                "search": report_text.search_section(search, effect)}
    output_dir.mkdir(parents=True, exist_ok=True)
    files = _write_files(loaded, answer, output_dir)
    markdown = render_markdown(loaded, answer, sections, results, agreement, files)
    report_md = output_dir / "REPORT.md"
    report_md.write_text(markdown + "\n", encoding="utf-8")
    files.insert(0, report_md)
    report = Report(summary=report_text.summarize(list(sections.values())), markdown=markdown,
                    note=render_markdown(loaded, answer, sections, results, agreement, None),
                    replicates_note=None if answer is None else
                    render_replicates_note(loaded, answer),
                    files=files, answer=answer, importances=results,
                    importance_problems=problems, agreement=agreement, search=search)
    companion = None if answer is None else open_companion(study, create=False)
    if artifact_store is not None:
        _upload(report, study, companion, artifact_store)
    if save_note:
        _save_notes(report, study, companion)
    return report


def _upload(report: Report, study: optuna.Study, companion: optuna.Study | None, store) -> None:
    """The files as study artifacts (the effects figures also of the replicates study), and the
    learning curves as trial artifacts."""
    for path in report.files:
        report.study_artifacts[path.name] = artifacts.put_study_artifact(study, store, path)
    if companion is not None:
        for path in report.files:
            if path.name in REPLICATE_FILES:
                report.replicates_artifacts[path.name] = artifacts.put_study_artifact(
                    companion, store, path)
    report.trial_artifacts = upload_learning_curves(study, store)


def _save_notes(report: Report, study: optuna.Study, companion: optuna.Study | None) -> None:
    from optuna_dashboard import save_note

    if study.metric_names is None:  # a study created before the service named it
        name_metric(study)
    save_note(study, report.note)
    if report.answer is not None:
        publish_answer(study, answer_attribute(report.answer))
        save_answer_plots(report.answer, [study] if companion is None else [study, companion])
    if companion is not None:
        save_note(companion, report.replicates_note)


def save_phase_end_notes(loaded: LoadedStudy, companion: optuna.Study) -> None:
    """The dashboard notes once the replicate phase ends, before anyone runs `report`: the
    search study's note leads with the answer, the replicates study gets its own; `report`
    later replaces both with the whole report."""
    from optuna_dashboard import save_note

    study = loaded.study
    answer = answer_of(study)
    if answer is None or answer.winner is None:
        return
    if study.metric_names is None:
        name_metric(study)
    body = "\n".join(report_text.answer_lines(answer))
    save_note(study, f"**{use_line(answer)}**\n\n```text\n{body}\n```\n\n{SEARCH_PANELS}\n\n"
                     "Parameter importances, the search phase and the figures: "
                     "`python -m study report`.")
    publish_answer(study, answer_attribute(answer))
    save_note(companion, render_replicates_note(loaded, answer))
    save_answer_plots(answer, [study, companion])
