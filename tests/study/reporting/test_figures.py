"""What the figures show, read from the figure objects: only λ arms on the λ axis, no label
twice, accuracy in percent everywhere, and no legend over the plot (drawn with matplotlib as the
PNGs are)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import optuna
import pytest

from study.analysis.effects import Comparison
from study.replicates.runs import answer_of
from study.reporting import curve_figures, drawing, effect_figures, search_figures
from study.trials import best_trial
from tests.study.report_studies import make_loaded, run_replicates


@pytest.fixture(scope="module")
def replicated(tmp_path_factory) -> dict:
    """A mock study whose replicate phase ran through the service's worker, and its answer."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = tmp_path_factory.mktemp("figures")
    loaded = make_loaded("lambda", storage=f"sqlite:///{tmp / 'studies.db'}", n_complete=40,
                         n_pruned=4)
    run_replicates(loaded, tmp)
    study = loaded.study
    answer = answer_of(study)
    search = search_figures.report_figures(study, best_trial(study), None)
    effects = curve_figures.decisive_figures(answer) + effect_figures.effect_figures(answer)
    return {"answer": answer, "search": search, "effects": effects}


@pytest.mark.slow
def test_only_the_lambda_arms_are_on_the_lambda_axis(replicated: dict) -> None:
    answer = replicated["answer"]
    assert {a.factor for a in answer.plan.arms} - {None, "λ"}, "the plan has other arms too"
    spec = effect_figures.dose_response(answer)
    lam_arms = sorted(a.lam for a in answer.plan.arms if a.factor in (None, "λ"))
    assert [t.name.split(":")[0] for t in spec.traces] == ["test"]
    zero_x = spec.lambda_axis
    assert spec.traces[0].x == [drawing.lambda_x(lam, zero_x) for lam in lam_arms]


def test_no_difference_is_labelled_twice() -> None:
    """A configuration arm (a search trial's) with λ = 0 reads like the λ = 0 arm: its label is
    its own (the issue's "λ = 0 − λ = 9.26" twice)."""
    text = "λ = 0 vs λ = 9.26"
    comparisons = [
        Comparison("lambda_effect", "λ effect", "best", "lambda=0", "λ = 9.26 vs λ = 0", None),
        Comparison("lambda=0 vs best", "λ = 0", "lambda=0", "best", text, None),
        Comparison("dropout=0 vs best", "dropout 0 (low end)", "dropout=0", "best",
                   "dropout 0 vs dropout 0.2", None),
        Comparison("trial=0 vs best", "trial 0: λ = 0, dropout 0.1, hidden 32", "trial=0",
                   "best", text, None)]
    labels = effect_figures.comparison_labels(comparisons)
    assert labels == ["λ effect: λ = 9.26 − λ = 0", "λ = 0 − λ = 9.26",
                      "dropout 0 − dropout 0.2",
                      "trial 0 − best\n(λ = 0, dropout 0.1, hidden 32)"]


def test_the_differences_figure_labels_each_comparison_once(replicated: dict) -> None:
    spec = effect_figures.effect_differences(replicated["answer"])
    labels = spec.x_ticks[1]
    assert len(labels) == len(set(labels)) == len(replicated["answer"].test.comparisons)


def test_accuracy_is_in_percent_in_every_figure(replicated: dict) -> None:
    for spec in replicated["search"] + replicated["effects"]:
        if spec.name in ("accuracy_vs_cost", "accuracy_vs_lambda", "learning_curves",
                         "effects_lambda", "lambda_curve"):
            assert spec.y_label.endswith(", %"), (spec.name, spec.y_label)
            values = [y for t in spec.traces for y in t.y]
            assert values and max(values) > 1.0, spec.name  # percent, not a fraction
        if spec.color_label:
            assert spec.color_label.endswith(", %"), (spec.name, spec.color_label)
            colors = [c for t in spec.traces for c in t.color or []]
            assert colors and max(colors) > 1.0, spec.name


def test_no_legend_covers_the_plot(replicated: dict) -> None:
    for spec in replicated["search"] + replicated["effects"]:
        fig = drawing.matplotlib_figure(spec)
        try:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            ax = fig.axes[0]
            legend = ax.get_legend()
            assert legend is not None, spec.name
            plot, box = ax.get_window_extent(renderer), legend.get_window_extent(renderer)
            assert not plot.overlaps(box), (spec.name, plot, box)
            title = fig.texts[0].get_window_extent(renderer) if fig.texts else None
            assert title is None or not title.overlaps(box), spec.name
            for label in ax.get_xticklabels():  # nor the tick labels under it
                assert not label.get_window_extent(renderer).overlaps(box), spec.name
        finally:
            plt.close(fig)
