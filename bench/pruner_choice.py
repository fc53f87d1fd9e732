"""Benchmark 3b: which pruner should be the default? Scored by what a user gets, not by the
search's own (noisy, selection-biased) best validation accuracy.

For every candidate pruner and search seed, the service's search runs in process (its seeded TPE,
its pruner specs, `LstmObjective` built once, the λ = 0 baseline enqueued first), recording every
trial. Every configuration that was ever a search's incumbent is then trained again over paired
replicate seeds (full epochs, no pruning: `LstmObjective.replicate`, the replicate phase's own
path), once per configuration whichever searches it came from; the configurations closest to the
top get extra seeds, so the reference (the best replicated mean) rests on more than 4 runs.
`bench.pruner_score` turns the log into the score: epochs spent until a search's incumbent is
within 1 point of the reference (replicated test accuracy).

Everything goes to a JSON log (`--log`), rewritten after each search and each replicate run: an
interrupted benchmark resumes where it stopped, and `--from-log` recomputes the tables.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    apply_threads,
    command_line,
    section,
    table,
    update_section,
)
from bench.pruner_score import (
    config_key,
    early_rank_agreement,
    per_seed_rows,
    replicated_means,
    score_runs,
    summary_rows,
    trajectory,
)

PRUNERS = ("median", "median:n_warmup_steps=4", "successive-halving", "hyperband", "none")
LOG = REPO / "bench" / "results" / "pruner_choice.json"
# The replicate phase's training seeds for a study of seed 0 (study.replicates.SEED_OFFSET + k):
# the same seeds for every configuration, so configurations are compared seed by seed.
REPLICATE_SEED_OFFSET = 10_000


def save(log: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(log, indent=1))
    os.replace(tmp, path)  # a kill mid-write keeps the previous log


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def trial_row(trial) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from objectives import LAMBDA_ATTR
    attrs = trial.user_attrs
    params = trial.params
    lam = attrs.get(LAMBDA_ATTR)
    config = (config_key(lam, params["dropout"], params["hidden"])
              if lam is not None and params else None)
    seconds = ((trial.datetime_complete - trial.datetime_start).total_seconds()
               if trial.datetime_complete and trial.datetime_start else None)
    return {"number": trial.number, "state": trial.state.name, "value": trial.value,
            "epochs": int(attrs.get("epochs", 0)), "config": config, "params": params,
            "lambda": lam, "val_curve": attrs.get("val_curve"),
            "test_accuracy": attrs.get("test_accuracy"), "seconds": seconds}


def run_search(objective, base, variant: str, seed: int, n_trials: int) -> dict[str, Any]:
    """One search as the service runs it; the split stays the default run's (seed 0)."""
    import optuna

    from bench.pruning import experiment_of
    from objectives import baseline_params
    from study.search.pruner import build_pruner
    from study.search.sampler import TrialSeededSampler

    spec = experiment_of(variant, data=base.data, max_epochs=None, seed=seed,
                         n_trials=n_trials).pruner
    # The objective's data is loaded once (split seed 0); only the training seeds of the search
    # trials (experiment seed + trial number) and the sampler's seed follow the search seed.
    searcher = copy.copy(objective)
    searcher.experiment = dataclasses.replace(base, seed=seed, pruner=spec)
    name = variant.replace(":", "-").replace("=", "")
    # A fixed name per run: Hyperband assigns trials to brackets by a hash of the study name.
    study = optuna.create_study(direction="maximize", sampler=TrialSeededSampler(seed),
                                pruner=build_pruner(spec),
                                study_name=f"bench-pruner-choice-{name}-seed{seed}")
    study.enqueue_trial(baseline_params(base.profile.search))
    started = time.perf_counter()
    study.optimize(searcher, n_trials=n_trials)
    wall = time.perf_counter() - started
    return {"pruner": variant, "seed": seed, "spec": spec, "wall_s": wall,
            "trials": [trial_row(t) for t in study.trials]}


def replicate(objective, log: dict, key: str, params: dict, seeds: int, path: Path) -> None:
    """Train `key` until it has `seeds` replicate runs (paired seeds 0 … seeds-1)."""
    from objectives import TrialParams
    entry = log["replicates"].setdefault(key, {"params": params, "runs": []})
    if len(entry["runs"]) >= seeds:
        return
    for k in range(len(entry["runs"]), seeds):
        outcome = objective.replicate(TrialParams(**params), REPLICATE_SEED_OFFSET + k)
        entry["runs"].append({"seed": k, "train_seed": REPLICATE_SEED_OFFSET + k,
                              "test_accuracy": outcome.test_accuracy,
                              "val_accuracy": outcome.val_accuracy, "epochs": outcome.epochs,
                              "seconds": round(outcome.seconds, 2)})
        log["replicate_epochs"] = log.get("replicate_epochs", 0) + outcome.epochs
        save(log, path)
    say(f"replicated {key}: {len(entry['runs'])} runs, mean test "
        f"{replicated_means({key: entry})[key]:.1f} %")


def incumbent_configs(run: dict) -> dict[str, dict]:
    """Every configuration that was this search's incumbent at some point, with its params."""
    params = {t["config"]: {"lam": t["lambda"], "dropout": t["params"]["dropout"],
                            "hidden": t["params"]["hidden"]} for t in run["trials"] if t["config"]}
    return {step["incumbent"]: params[step["incumbent"]]
            for step in trajectory(run["trials"]) if step["incumbent"]}


def refine(objective, log: dict, args, path: Path) -> None:
    """Extra seeds for the configurations at the top, until the top `--refine-top` by mean all
    have `--refine-seeds` runs: the reference is a maximum over noisy means, so it must not
    rest on a lucky 4-run mean."""
    for _ in range(4):  # each pass may lift a new configuration into the top; a few suffice
        means = replicated_means(log["replicates"])
        top = sorted(means, key=lambda key: -means[key])[:args.refine_top]
        short = [key for key in top if len(log["replicates"][key]["runs"]) < args.refine_seeds]
        if not short:
            return
        for key in short:
            replicate(objective, log, key, log["replicates"][key]["params"], args.refine_seeds,
                      path)


def pooled_sd(replicates: dict) -> float:
    """Pooled standard deviation over seeds of one replicate run's test accuracy, in points."""
    sums, dof = 0.0, 0
    for entry in replicates.values():
        values = [100 * run["test_accuracy"] for run in entry["runs"]]
        if len(values) > 1:
            mean = sum(values) / len(values)
            sums += sum((v - mean) ** 2 for v in values)
            dof += len(values) - 1
    return (sums / dof) ** 0.5 if dof else float("nan")


def rank_line(log: dict) -> str:
    """How well the accuracy after the epochs where the candidates prune ranks trials."""
    agreement = early_rank_agreement(log, (2, 3, 4, 5, 8, 10))
    cells = ", ".join(f"after {epoch}: {rho:+.2f}" for epoch, (rho, _) in agreement.items())
    n = max((count for _, count in agreement.values()), default=0)
    return ("- How much an early reading tells (what a pruner bets on): Spearman's ρ between a "
            "trial's validation accuracy after k epochs and its best over all epochs, over the "
            f"{n} trials of the unpruned searches: {cells} epochs.")


def tables(log: dict, tolerance: float, loose: float) -> tuple[str, str]:
    settings = log["settings"]
    reference, reference_key, scored = score_runs(log, tolerance)
    _, _, scored_loose = score_runs(log, loose)
    pruners = [p for p in settings["pruners"] if any(r["pruner"] == p for r in scored)]
    seeds = sorted({r["seed"] for r in scored})
    # The first candidate is today's default: every other one is compared with it.
    summary = table(summary_rows(scored, pruners, scored_loose, baseline=pruners[0]))
    per_seed = table(per_seed_rows(scored, pruners, seeds))
    runs = log["replicates"][reference_key]["runs"]
    n_runs = [len(entry["runs"]) for entry in log["replicates"].values()]
    means = replicated_means(log["replicates"])
    close = sum(m >= reference - tolerance - 1e-9 for m in means.values())
    sd = pooled_sd(log["replicates"])
    k = settings["replicate_seeds"]
    search_epochs = sum(t["epochs"] for r in log["runs"] for t in r["trials"])
    facts = "\n".join([
        (f"- Reference: **{reference:.1f} %** replicated test accuracy ({len(runs)} seeds), "
        f"configuration {reference_key}. {close} of the {len(n_runs)} replicated "
        f"configurations are within {tolerance:g} point(s) of it."),
        (f"- Replicates: every configuration that was ever a search's incumbent, {k} paired "
        f"seeds each; the top {settings['refine_top']} by mean topped up to "
        f"{settings['refine_seeds']} seeds ({min(n_runs)}–{max(n_runs)} seeds per "
        f"configuration). One run's test accuracy varies by {sd:.1f} points (pooled sd over "
        f"seeds), so a {k}-seed mean is known to about ±{sd / k ** 0.5:.1f} points (one "
        f"standard error): a {tolerance:g}-point target is finer than the measurement, hence "
        f"the looser column ({loose:g} points)."),
        rank_line(log),
        (f"- Epochs: {search_epochs:,} in searches, {log.get('replicate_epochs', 0):,} in "
        f"replicates; benchmark wall time {log.get('wall_s', 0) / 3600:.1f} h.")])
    caption = ("Per seed: epochs until the incumbent first reached the target / until it held it to "
               "the end of the budget (points below the reference at the end)")
    return f"{summary}\n\n{caption}\n\n{per_seed}", facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pruner_choice", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--trials", type=int, default=20, help="search budget (the default run's)")
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS),
                        help="service pruner names or variants (median:n_warmup_steps=4)")
    parser.add_argument("--replicate-seeds", type=int, default=4,
                        help="paired seeds per incumbent configuration (the quick profile's 4)")
    parser.add_argument("--refine-top", type=int, default=4)
    parser.add_argument("--refine-seeds", type=int, default=8)
    parser.add_argument("--tolerance", type=float, default=1.0, help="points")
    parser.add_argument("--loose", type=float, default=3.0, help="a looser tolerance, points")
    parser.add_argument("--max-epochs", type=int, help="cap per trial (tiny trial runs only)")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, help="feature cache (default: a temp dir)")
    parser.add_argument("--log", type=Path, default=LOG, help="JSON log (resumed if present)")
    parser.add_argument("--from-log", action="store_true", help="only recompute the tables")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    settings = {"seeds": args.seeds, "trials": args.trials, "pruners": args.pruners,
                "replicate_seeds": args.replicate_seeds, "refine_top": args.refine_top,
                "refine_seeds": args.refine_seeds, "data": args.data,
                "max_epochs": args.max_epochs}
    log = json.loads(args.log.read_text()) if args.log.exists() else {}
    if not args.from_log:
        # Seeds, pruners and replicate seeds may grow on a resumed log (runs are only added);
        # a search of another budget, data or epoch cap would not be comparable.
        fixed = ("trials", "data", "max_epochs")
        if log and any(log["settings"][k] != settings[k] for k in fixed):
            raise SystemExit(f"error: {args.log} holds another benchmark's settings "
                             f"({log['settings']}); pass another --log")
        log = log or {"runs": [], "replicates": {}}
        log["settings"] = settings
        with tempfile.TemporaryDirectory(prefix="bench-pruner-choice-") as tmp:
            measure(log, args, Path(tmp))
    summary, facts = tables(log, args.tolerance, args.loose)
    print(summary + "\n\n" + facts)
    if not args.no_write:
        apply_threads(args.threads)  # the machine line names the measurement's threads
        s = log["settings"]
        text = section(f"3b. Choosing the default pruner ({s['trials']} trials, "
                       f"{len(s['seeds'])} seeds, quick profile, data {s['data']})", "cpu",
                       summary, facts)
        # The command and time of the measurement, not of a later --from-log.
        lines = [f"Command: `{log['command']}`  " if line.startswith("Command:")
                 and log.get("command") else
                 f"Run: {log['finished']}" if line.startswith("Run:") and log.get("finished")
                 else line for line in text.splitlines()]
        update_section("pruner-choice", "\n".join(lines))
    return 0


def measure(log: dict, args, tmp: Path) -> None:
    import optuna

    from bench.pruning import experiment_of
    from objectives import ObjectiveContext
    from objectives.objective import LstmObjective

    optuna.logging.set_verbosity(logging.WARNING)
    for variant in args.pruners:  # a bad variant fails now, not after hours
        experiment_of(variant, data=args.data, max_epochs=args.max_epochs, seed=0, n_trials=1)
    base = experiment_of("none", data=args.data, max_epochs=args.max_epochs, seed=0,
                         n_trials=args.trials)
    ctx = ObjectiveContext(spec=base.trial_spec(), study_name="bench-pruner-choice",
                           cache_dir=args.cache_dir or tmp / "cache", model_dir=tmp / "models",
                           device="cpu", threads=args.threads)
    objective = LstmObjective(ctx)  # loaded once: the feature cache is built before any clock
    started = time.perf_counter()
    for seed in args.seeds:
        for variant in args.pruners:
            if any(r["pruner"] == variant and r["seed"] == seed for r in log["runs"]):
                continue
            run = run_search(objective, base, variant, seed, args.trials)
            log["runs"].append(run)
            save(log, args.log)
            say(f"seed {seed} {variant}: {sum(t['epochs'] for t in run['trials'])} epochs, "
                f"{run['wall_s']:.0f} s")
        # Replicates after every seed: a benchmark cut short can still be scored.
        for run in (r for r in log["runs"] if r["seed"] == seed):
            for key, params in incumbent_configs(run).items():
                replicate(objective, log, key, params, args.replicate_seeds, args.log)
    refine(objective, log, args, args.log)
    log["wall_s"] = log.get("wall_s", 0) + time.perf_counter() - started
    log["command"] = command_line()
    log["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    save(log, args.log)


if __name__ == "__main__":
    raise SystemExit(main())
