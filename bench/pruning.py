"""Benchmark 3: pruning savings — the same quick study on synthetic data (fixed seeds) with the
service's median pruner and with no pruner: total epochs trained, wall time, best validation
accuracy.

Runs in process with Optuna directly but with the service's own pieces: `LstmObjective` built once
(the synthetic feature cache is built before the clock starts), the service's seeded TPE sampler,
its pruner settings, and the λ = 0 baseline enqueued first, as `python -m study create` does.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench.common import percent, section, table, update_section


def experiment_of(variant: str, *, data: str, max_epochs: int | None, seed: int,
                  n_trials: int):
    """The experiment `python -m study create --profile quick --pruner NAME` would store;
    `median:n_warmup_steps=2` then overrides one integer setting of the service's spec."""
    import argparse
    import dataclasses

    from study.experiment import from_flags

    name, _, overrides = variant.partition(":")
    flags = argparse.Namespace(objective="lstm", data=data, profile="quick", pruner=name,
                               max_epochs=max_epochs, seed=seed)
    experiment = from_flags(flags, n_trials=n_trials)
    spec = dict(experiment.pruner)
    for item in filter(None, overrides.split(",")):
        key, _, value = item.partition("=")
        if key not in spec or key == "name":
            raise SystemExit(f"error: {name} has no setting {key!r} (has: {', '.join(spec)})")
        spec[key] = int(value)
    return dataclasses.replace(experiment, pruner=spec)


def run_study(objective, experiment, *, pruner: str) -> dict:
    import optuna

    from objectives import baseline_params
    from study.search.pruner import build_pruner
    from study.search.sampler import TrialSeededSampler

    seed = experiment.seed
    # A fixed name: Hyperband assigns trials to brackets by a hash of the study name.
    study = optuna.create_study(direction="maximize", sampler=TrialSeededSampler(seed),
                                pruner=build_pruner(experiment.pruner),
                                study_name=f"bench-pruning-{pruner}-seed{seed}")
    study.enqueue_trial(baseline_params(experiment.search))
    started = time.perf_counter()
    study.optimize(objective, n_trials=experiment.n_trials)
    wall = time.perf_counter() - started
    trials = study.trials
    states = [t.state.name for t in trials]
    best = study.best_trial
    return {"seed": seed, "pruner": pruner, "trials": len(trials),
            "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"), "failed": states.count("FAIL"),
            "epochs": sum(int(t.user_attrs.get("epochs", 0)) for t in trials),
            "wall s": wall, "best val acc": best.value,
            "its test acc": best.user_attrs.get("test_accuracy", float("nan")),
            "best trial": best.number, "its λ": best.user_attrs.get("lambda"),
            "best params": {k: round(v, 3) if isinstance(v, float) else v
                            for k, v in best.params.items()}}


def comparison(rows: list[dict], pruner: str, seeds: list[int]) -> str:
    """One pruner against no pruning: epochs summed and best accuracies averaged over the seeds."""
    mine = [r for r in rows if r["pruner"] == pruner]
    none = [r for r in rows if r["pruner"] == "none"]
    saved = 1 - sum(r["epochs"] for r in mine) / sum(r["epochs"] for r in none)
    per_seed = [1 - a["epochs"] / b["epochs"] for a, b in zip(mine, none)]
    acc, acc_none = (sum(r["best val acc"] for r in group) / len(group) for group in (mine, none))
    gap = 100 * (acc_none - acc)
    gaps = [100 * (a["best val acc"] - b["best val acc"]) for a, b in zip(mine, none)]
    faster = sum(r["wall s"] for r in none) / sum(r["wall s"] for r in mine)
    met = "met" if saved >= 0.5 and gap <= 1.0 else "NOT met"
    seeds_note = "" if len(seeds) == 1 else (
        f" over seeds {seeds} (per seed: " + ", ".join(f"{percent(x)}" for x in per_seed)
        + " fewer epochs; " + ", ".join(f"{g:+.1f}" for g in gaps) + " points)")
    return (f"- {pruner} pruner vs none{seeds_note}: **{percent(saved)} fewer epochs**, wall time "
            f"÷ {faster:.2f}, mean best validation accuracy {acc:.3f} vs {acc_none:.3f} "
            f"({-gap:+.1f} points with pruning; goal ≥ 50 % fewer epochs with at most 1 point "
            f"lost: {met}).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pruning", description=__doc__)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--max-epochs", type=int, help="cap per trial (default: the profile's)")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="sampler and objective seeds: one study per seed and pruner")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cache-dir", type=Path, help="feature cache (default: a temp dir)")
    parser.add_argument("--pruners", nargs="+", default=["median", "none"],
                        help="service pruner names, or variants such as "
                             "median:n_warmup_steps=2 (integer settings of its spec)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    import optuna

    from objectives import ObjectiveContext
    from objectives.objective import LstmObjective
    from study.search.pruner import pruner_spec

    optuna.logging.set_verbosity(logging.WARNING)
    # Every experiment first: a bad override fails before the first study, not after hours.
    experiments = {(seed, pruner): experiment_of(pruner, data=args.data,
                                                 max_epochs=args.max_epochs, seed=seed,
                                                 n_trials=args.trials)
                   for seed in args.seeds for pruner in args.pruners}
    epochs = next(iter(experiments.values())).profile.train.max_epochs
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as tmp:
        cache_dir = args.cache_dir or Path(tmp) / "cache"
        rows = []
        for (seed, pruner), experiment in experiments.items():
            name = pruner.replace(":", "-").replace("=", "")
            ctx = ObjectiveContext(spec=experiment.trial_spec(), study_name=f"bench-{name}-seed{seed}",
                                   cache_dir=cache_dir, model_dir=Path(tmp) / "models",
                                   device="cpu", threads=args.threads)
            objective = LstmObjective(ctx)  # the feature cache is built before the clock starts
            rows.append(run_study(objective, experiment, pruner=pruner))
            print(f"  {pruner}: {rows[-1]}", file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    lines = [comparison(rows, pruner, args.seeds) for pruner in args.pruners
             if pruner != "none" and "none" in args.pruners]
    median = pruner_spec("median", epochs)
    lines.append(f"- Epochs per trial capped at {epochs}; pruner settings are the service's "
                 f"(`study.search.pruner.pruner_spec`: median = {median['n_startup_trials']} startup "
                 f"trials, {median['n_warmup_steps']} warm-up epoch(s), a tenth of the epochs; "
                 "hyperband = min resource 1, reduction 3) unless the row names an override; "
                 "TPE seeded as the service seeds it; the λ = 0 baseline "
                 "enqueued first.")
    notes = "\n".join(lines)
    print(notes)
    if not args.no_write:
        update_section("pruning", section(
            f"3. Pruning savings ({args.trials} trials, quick profile, data {args.data})", "cpu",
            text, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
