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
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import percent, section, table, update_section


def run_study(objective, *, pruner: str, n_trials: int, seed: int, profile) -> dict:
    import optuna

    from objectives.search_space import baseline_params
    from study.service import build_pruner, build_sampler, pruner_spec

    study = optuna.create_study(direction="maximize", sampler=build_sampler(seed),
                                pruner=build_pruner(pruner_spec(pruner)))
    study.enqueue_trial(baseline_params(profile))
    started = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    wall = time.perf_counter() - started
    trials = study.trials
    states = [t.state.name for t in trials]
    best = study.best_trial
    return {"pruner": pruner, "trials": len(trials), "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"), "failed": states.count("FAIL"),
            "epochs": sum(int(t.user_attrs.get("epochs", 0)) for t in trials),
            "wall s": wall, "best val acc": best.value,
            "its test acc": best.user_attrs.get("test_accuracy", float("nan")),
            "best trial": best.number,
            "best params": {k: round(v, 3) if isinstance(v, float) else v
                            for k, v in best.params.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pruning", description=__doc__)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--max-epochs", type=int, help="cap per trial (default: the profile's)")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--seed", type=int, default=0, help="sampler and objective seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cache-dir", type=Path, help="feature cache (default: a temp dir)")
    parser.add_argument("--pruners", nargs="+", default=["median", "none"])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    os.environ["STUDY_THREADS"] = str(args.threads)  # read by LstmObjective
    import optuna

    from objectives.context import ObjectiveContext
    from objectives.objective import LstmObjective
    from objectives.profiles import get_profile

    optuna.logging.set_verbosity(logging.WARNING)
    profile = get_profile("quick")
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as tmp:
        cache_dir = args.cache_dir or Path(tmp) / "cache"
        rows = []
        for pruner in args.pruners:
            ctx = ObjectiveContext(data=args.data, profile="quick", cache_dir=cache_dir,
                                   model_dir=Path(tmp) / "models", study_name=f"bench-{pruner}",
                                   seed=args.seed, device="cpu", max_epochs=args.max_epochs)
            objective = LstmObjective(ctx)
            rows.append(run_study(objective, pruner=pruner, n_trials=args.trials,
                                  seed=args.seed, profile=profile))
            print(f"  {pruner}: {rows[-1]}", file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    by = {r["pruner"]: r for r in rows}
    lines = []
    for name, row in by.items():
        if name == "none" or "none" not in by:
            continue
        saved = 1 - row["epochs"] / by["none"]["epochs"]
        gap = 100 * (by["none"]["best val acc"] - row["best val acc"])
        faster = by["none"]["wall s"] / row["wall s"]
        met = "met" if saved >= 0.5 and gap <= 1.0 else "NOT met"
        lines.append(f"- {name} pruner vs none: **{percent(saved)} fewer epochs**, wall time ÷ "
                     f"{faster:.2f}, best validation accuracy {row['best val acc']:.3f} vs "
                     f"{by['none']['best val acc']:.3f} ({-gap:+.1f} points with pruning; goal "
                     f"≥ 50 % fewer epochs with at most 1 point lost: {met}).")
    lines.append(f"- Epochs per trial capped at {args.max_epochs or profile.train.max_epochs}; "
                 "pruner settings are the service's (`study.service.pruner_spec`: median = 5 "
                 "startup trials, 2 warm-up epochs; hyperband = min resource 1, reduction 3); "
                 "TPE seeded as the service seeds it; the λ = 0 baseline enqueued first.")
    notes = "\n".join(lines)
    print(notes)
    if not args.no_write:
        update_section("pruning", section(
            f"3. Pruning savings ({args.trials} trials, quick profile, data {args.data})", "cpu",
            text, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
