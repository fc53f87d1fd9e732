"""The plots a study carries for optuna-dashboard, read back as the dashboard reads them: JSON in
the study's system attributes `dashboard:plot_data:<id>:<chunk>` (optuna-dashboard 0.21's format,
which the browser test checks through the dashboard's own API)."""

from __future__ import annotations

import json

import optuna

from storage.optuna_seam import backend_of, study_id

PREFIX = "dashboard:plot_data:"


def saved_plots(study: optuna.Study) -> dict[str, dict]:
    """graph object id → its plotly figure (a dict), chunks joined in order."""
    chunks: dict[str, dict[int, str]] = {}
    attrs = backend_of(study).get_study_system_attrs(study_id(study))  # Optuna 5: no property
    for key, value in attrs.items():
        if key.startswith(PREFIX):
            graph_id, index = key[len(PREFIX):].rsplit(":", 1)
            chunks.setdefault(graph_id, {})[int(index)] = value
    return {graph_id: json.loads("".join(parts[i] for i in sorted(parts) if parts[i]))
            for graph_id, parts in chunks.items()}
