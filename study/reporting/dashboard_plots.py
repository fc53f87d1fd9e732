"""The answer's two figures on the dashboard: the λ curve with its band and the three effects, as
plots on the pages of both studies (optuna-dashboard draws a study's saved plotly figures below
its own history and importance charts).

optuna-dashboard keeps such a figure as JSON in the study's system attributes, in chunks of 2,045
characters. The figures carry no plotly template (the default one alone is 6.5 KB of JSON, four
more writes per figure), and each has a fixed id, so that saving again (when the phase ends, then
on every `report`) replaces it instead of adding a plot.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import optuna

from study.analysis.effects import Answer
from study.reporting.curve_figures import decisive_figures
from study.reporting.drawing import to_plotly

GRAPH_IDS = {"lambda_curve": "answer-lambda-curve", "effects_forest": "answer-effects"}


def save_answer_plots(answer: Answer, studies: Sequence[optuna.Study]) -> list[str]:
    """Save the answer's λ curve and effects plots to each study; the ids saved."""
    from optuna_dashboard import save_plotly_graph_object

    saved = []
    for spec in decisive_figures(answer):
        figure = to_plotly(spec)
        # A dashboard card is half a page wide: the title's explanation goes on a small line.
        title, _, detail = spec.title.partition(" (")
        figure.update_layout(title={"text": f"{html.escape(title)}<br><sup>"
                                            f"{html.escape(detail.removesuffix(')'))}</sup>"},
                             template="none", plot_bgcolor="white", height=460)
        figure.update_xaxes(showgrid=True, gridcolor="#e5e5e5")
        figure.update_yaxes(showgrid=True, gridcolor="#e5e5e5")
        for study in studies:
            save_plotly_graph_object(study, figure, graph_object_id=GRAPH_IDS[spec.name])
        saved.append(GRAPH_IDS[spec.name])
    return saved
