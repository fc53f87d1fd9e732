"""The study service: a code map (the command table is `study.cli`; `python -m study COMMAND`).

- `commands/`   one module per command: create, work (worker, run, replicate), status, report,
                export (+ evaluate), standalone (train, prepare, check), dashboard
- `execution/`  the worker loop serving both phases, the launcher over devices, progress
- `search/`     phase 1: the study-wide budget, the sampler and the pruner
- `replicates/` phase 2: the plan (arms, seeds, the companion study) and its runs
- `analysis/`   the answer's numbers: statistics (pure), effects, importance
- `reporting/`  status, `run`'s summary, the report, figures, dashboard notes and artifacts
- `service.py` (create and open studies), `experiment.py` (the study's definition, from flags),
  `trials.py` (states, the best trial), `gate.py` (the gate both phases ask through),
  `model_store.py` (a trial's model in the artifact store: upload, keep the best k, fetch and verify),
  `artifact_store.py` (opening the store), `defaults.py`, `output.py`, `errors.py`; `best.py` is
  the `python -m study.best` entry point.
"""
