"""Scoring of `bench.pruner_choice`: pure functions over its JSON log, so the table can be
recomputed (`python -m bench.pruner_choice --from-log`) and tested without training anything.

A search's *incumbent* after a finished trial is the best COMPLETE trial so far by validation
accuracy (ties: the earliest, as `study.best_trial` and the service's report pick it); pruned
trials cost epochs but can never become the incumbent. What a user gets from a search is only as
good as its incumbent's configuration trained again: the score of one search is the number of
epochs it had spent when its incumbent's *replicated* mean test accuracy first came within
`tolerance` points of the best replicated configuration of the whole benchmark (the reference),
or never.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NEVER = math.inf  # the score of a search whose incumbent never got within tolerance


def config_key(lam: float, dropout: float, hidden: int) -> str:
    """One configuration as trained (effective λ: every log10_lambda below the cut-off is λ = 0)."""
    return f"lam={lam!r} dropout={dropout!r} hidden={int(hidden)}"


def trajectory(trials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """After every finished trial, in order: cumulative epochs and the incumbent's config key
    (None before the first COMPLETE trial)."""
    spent, best_value, best_config, best_number = 0, -math.inf, None, None
    steps = []
    for trial in trials:
        spent += int(trial.get("epochs") or 0)
        value = trial.get("value")
        if trial["state"] == "COMPLETE" and value is not None and value > best_value:
            best_value, best_config, best_number = value, trial["config"], trial["number"]
        steps.append({"trial": trial["number"], "epochs": spent, "incumbent": best_config,
                      "incumbent_trial": best_number})
    return steps


def replicated_means(replicates: Mapping[str, Mapping[str, Any]],
                     metric: str = "test_accuracy") -> dict[str, float]:
    """Mean replicated accuracy (points, 0-100) of every configuration with at least one run."""
    return {key: 100 * statistics.fmean(run[metric] for run in entry["runs"])
            for key, entry in replicates.items() if entry["runs"]}


def score_run(steps: Sequence[Mapping[str, Any]], means: Mapping[str, float], reference: float,
              tolerance: float) -> dict[str, Any]:
    """Epochs spent until the incumbent's replicated mean was first within `tolerance` points of
    `reference`, and until it was so for good (to the end of the budget: a later, luckier
    validation score may replace a good incumbent by a worse one); `NEVER` if not. Also the
    final incumbent's mean and its gap to the reference."""
    good = [step["incumbent"] is not None and step["incumbent"] in means
            and means[step["incumbent"]] >= reference - tolerance - 1e-9 for step in steps]
    first = next((step["epochs"] for step, ok in zip(steps, good) if ok), NEVER)
    held = NEVER
    for step, ok in zip(reversed(steps), reversed(good)):
        if not ok:
            break
        held = step["epochs"]
    final = steps[-1]["incumbent"] if steps else None
    final_mean = means.get(final, math.nan) if final else math.nan
    return {"epochs_to_target": first, "epochs_to_hold": held, "final_mean": final_mean,
            "final_gap": reference - final_mean, "epochs": steps[-1]["epochs"] if steps else 0}


def median_score(scores: Iterable[float]) -> float:
    """The median with `NEVER` ranked above every finite score (so it is `NEVER` when more than
    half never got there; between a finite score and `NEVER` it is `NEVER`)."""
    ordered = sorted(scores)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    return NEVER if math.isinf(high) else (low + high) / 2


def format_epochs(value: float) -> str:
    if math.isnan(value):
        return "–"
    return "never" if math.isinf(value) else f"{value:g}"


def _spread(values: Sequence[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f}"


def score_runs(log: Mapping[str, Any], tolerance: float,
               metric: str = "test_accuracy") -> tuple[float, str, list[dict[str, Any]]]:
    """(reference, its config key, one scored row per search run of the log)."""
    means = replicated_means(log["replicates"], metric)
    reference_key = max(means, key=lambda key: means[key])
    reference = means[reference_key]
    rows = []
    for run in log["runs"]:
        steps = trajectory(run["trials"])
        rows.append({"pruner": run["pruner"], "seed": run["seed"], "wall_s": run["wall_s"],
                     "pruned": sum(t["state"] == "PRUNED" for t in run["trials"]),
                     "trials": len(run["trials"]), "final": steps[-1]["incumbent"],
                     **score_run(steps, means, reference, tolerance)})
    return reference, reference_key, rows


def paired_difference(scored: Sequence[Mapping[str, Any]], pruner: str, baseline: str) -> str:
    """Final incumbent's replicated accuracy, `pruner` minus `baseline`, seed by seed: the mean
    difference in points and wins/ties/losses (a tie: both searches ended on one configuration)."""
    mine = {r["seed"]: r["final_mean"] for r in scored if r["pruner"] == pruner}
    theirs = {r["seed"]: r["final_mean"] for r in scored if r["pruner"] == baseline}
    diffs = [mine[seed] - theirs[seed] for seed in sorted(mine.keys() & theirs.keys())]
    if pruner == baseline or not diffs:
        return "–"
    wins, ties = sum(d > 1e-9 for d in diffs), sum(abs(d) <= 1e-9 for d in diffs)
    return f"{statistics.fmean(diffs):+.1f} ({wins}/{ties}/{len(diffs) - wins - ties})"


def summary_rows(scored: Sequence[Mapping[str, Any]], pruners: Sequence[str],
                 loose: Sequence[Mapping[str, Any]] = (),
                 baseline: str | None = None) -> list[dict[str, Any]]:
    """One row per pruner: the score's median and range over seeds, how many seeds never got
    there, the final incumbent's replicated accuracy (and against `baseline`'s, seed by seed),
    the cost. `loose` is the same runs scored with a looser tolerance (a column of its own)."""
    rows = []
    for pruner in pruners:
        mine = [r for r in scored if r["pruner"] == pruner]
        if not mine:
            continue
        scores = [r["epochs_to_target"] for r in mine]
        held = [r["epochs_to_hold"] for r in mine]
        row = {"pruner": pruner, "seeds": len(mine),
               "epochs to target: median": format_epochs(median_score(scores)),
               "range": f"{format_epochs(min(scores))}–{format_epochs(max(scores))}",
               "never": sum(math.isinf(s) for s in scores),
               "held to the end: median": format_epochs(median_score(held)),
               "never held": sum(math.isinf(s) for s in held)}
        if loose:
            looser = [r["epochs_to_target"] for r in loose if r["pruner"] == pruner]
            row["median, looser tolerance"] = format_epochs(median_score(looser))
        row.update({
            "final incumbent, replicated test acc %": _spread([r["final_mean"] for r in mine]),
            "final gap, points": _spread([r["final_gap"] for r in mine]),
            **({f"vs {baseline}, points (W/T/L)": paired_difference(scored, pruner, baseline)}
               if baseline else {}),
            "epochs per search": statistics.fmean(r["epochs"] for r in mine),
            "pruned / trials": f"{statistics.fmean(r['pruned'] for r in mine):.1f} / "
                               f"{statistics.fmean(r['trials'] for r in mine):g}",
            "wall s per search": statistics.fmean(r["wall_s"] for r in mine)})
        rows.append(row)
    return rows


def per_seed_rows(scored: Sequence[Mapping[str, Any]], pruners: Sequence[str],
                  seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One row per pruner, one cell per seed: 'epochs to target / held (final gap)'."""
    rows = []
    for pruner in pruners:
        row: dict[str, Any] = {"pruner": pruner}
        for seed in seeds:
            match = [r for r in scored if r["pruner"] == pruner and r["seed"] == seed]
            row[f"seed {seed}"] = (f"{format_epochs(match[0]['epochs_to_target'])} / "
                                   f"{format_epochs(match[0]['epochs_to_hold'])} "
                                   f"({match[0]['final_gap']:+.1f})" if match else "–")
        rows.append(row)
    return rows


def early_rank_agreement(log: Mapping[str, Any], epochs: Sequence[int],
                         pruner: str = "none") -> dict[int, tuple[float, int]]:
    """Spearman's ρ between a search trial's validation accuracy after `epoch` epochs and its
    best over all epochs (the objective value), for each epoch, with the number of trials: how
    well an early reading ranks configurations, which is what a pruner bets on. Only the trials
    of searches with `pruner` (default: none, so no trial survived a pruner's selection)."""
    from scipy.stats import spearmanr

    seen = {}
    for run in (r for r in log["runs"] if r["pruner"] == pruner):
        for t in run["trials"]:
            if t["state"] == "COMPLETE" and t.get("val_curve"):
                seen[(run["seed"], t["number"], t["config"])] = (t["val_curve"], t["value"])
    result = {}
    for epoch in epochs:
        pairs = [(curve[epoch - 1], value) for curve, value in seen.values()
                 if len(curve) >= epoch]
        rho = spearmanr(*zip(*pairs)).statistic if len(pairs) > 2 else math.nan
        result[epoch] = (float(rho), len(pairs))
    return result
