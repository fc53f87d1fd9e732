"""Benchmark 9: the noise of one run — how much a quick-profile run's accuracy moves with its seed.

Trains a few arms (λ values at the baseline's dropout and hidden size) × several seeds through the
project's own training loop (`objectives.training.train_configuration`, the real objective) on
the default synthetic data, for one or more *variants* (the generated data's evaluation scale
and training settings), interleaved seed by seed on a pool of processes (like the replicate
phase's workers) so that the variants share the machine's load. Per variant and split
(validation, test): the per-arm SD over seeds, the SD of paired differences (arm − arm on the same
seed), and the residual SD of `accuracy ~ C(arm) + C(seed)` (statsmodels OLS), with the blocked
design's λ-gain half-width predicted from it; and seconds per run.

A variant is `NAME` or `NAME:key=value,...`; keys: `eval_scale` (the synthetic source's; default
the source's own), `epochs`, and any `TrainSettings` field (`learning_rate`, `lr_decay`,
`batch_size`, `crop_frames`, `eval_frames`, `max_epochs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.common import REPO, apply_threads, section, table, update_section

RESULTS = REPO / "bench" / "results" / "run_noise.json"
ARMS_DEFAULT = (0.0, 1.0, 10.0)
DESIGN_ARMS = 10  # arms of the default run's replicate phase: the residual df of the prediction


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    eval_scale: int | None  # None: the source's default
    train: dict

    @classmethod
    def parse(cls, text: str) -> Variant:
        from objectives.profiles import TrainSettings

        name, _, rest = text.partition(":")
        fields = {f.name: f.type for f in dataclasses.fields(TrainSettings)}
        eval_scale, train = None, {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            if key == "eval_scale":
                eval_scale = int(value)
            elif key in fields:
                kind = str(fields[key])
                train[key] = int(value) if kind == "int" else value if kind == "str" else float(
                    value)
            else:
                raise SystemExit(f"error: unknown variant setting {key!r} (eval_scale or one of "
                                 f"{', '.join(fields)})")
        return cls(name, eval_scale, train)

    def profile(self):
        from objectives.profiles import get_profile

        quick = get_profile("quick")
        return dataclasses.replace(quick, train=dataclasses.replace(quick.train, **self.train))


_DATA: dict = {}  # per worker process: variant name → training data, loaded once


def _load(variant: Variant, cache_dir: Path):
    """The variant's training data, as `objectives.data.load_training_data` builds it for
    `--data synthetic`, with the variant's evaluation scale."""
    from objectives.data import SPLITS, TrainingData, build_cache

    # Behind the package's front: `--data` specs have no way to set the evaluation scale.
    from objectives.data.synthetic import SyntheticSource

    if variant.name not in _DATA:
        scale = {} if variant.eval_scale is None else {"eval_scale": variant.eval_scale}
        source = SyntheticSource(cache_dir, split_seed=0, **scale)
        cache = build_cache(source, variant.profile().features, cache_dir, progress=False)
        _DATA[variant.name] = TrainingData.from_clips(
            {split: cache.split(split) for split in SPLITS}, cache.classes,
            variant.profile().train, key=cache.key)
    return _DATA[variant.name]


def _start_worker(threads: int) -> None:
    from objectives.training import configure_threads, quiet_lightning

    configure_threads(threads)
    quiet_lightning()


def train_one(variant: Variant, lam: float, seed: int, cache_dir: Path) -> dict:
    from objectives.profiles import get_profile
    from objectives.search_space import TrialParams
    from objectives.training import train_configuration

    data = _load(variant, cache_dir)
    search = get_profile("quick").search
    params = TrialParams(lam=lam, dropout=search.baseline_dropout, hidden=search.baseline_hidden)
    started = time.perf_counter()
    outcome = train_configuration(data, params, variant.profile(), seed=seed, device="cpu")
    return {"variant": variant.name, "lam": lam, "seed": seed,
            "val": outcome.val_accuracy, "test": outcome.test_accuracy,
            "seconds": time.perf_counter() - started, "best_epoch": outcome.best_epoch,
            "n_val": len(data.splits["val"].labels), "n_test": len(data.splits["test"].labels)}


def noise(rows: list[dict], split: str) -> dict:
    """Per-arm SD, paired-difference SD (each λ > 0 against λ = 0) and the residual SD of
    `accuracy ~ C(arm) + C(seed)`, in points."""
    import numpy as np
    import pandas as pd
    import statsmodels.formula.api as smf

    frame = pd.DataFrame({"arm": [f"lam{r['lam']:g}" for r in rows],
                          "seed": [r["seed"] for r in rows],
                          "acc": [100 * r[split] for r in rows]})
    wide = frame.pivot(index="seed", columns="arm", values="acc")
    per_arm = wide.std(ddof=1)
    base = wide[[c for c in wide.columns if c == "lam0"]].iloc[:, 0]
    paired = {arm: float((wide[arm] - base).std(ddof=1)) for arm in wide.columns if arm != "lam0"}
    fit = smf.ols("acc ~ C(arm) + C(seed)", data=frame).fit()
    return {"mean": {arm: float(v) for arm, v in wide.mean().items()},
            "per_arm_sd": {arm: float(v) for arm, v in per_arm.items()},
            "paired_sd": paired, "residual_sd": float(np.sqrt(fit.mse_resid)),
            "residual_df": int(fit.df_resid), "seeds": len(wide)}


def half_width(sigma: float, seeds: int, arms: int = DESIGN_ARMS) -> float:
    """The blocked design's half-width of a difference of two arm means: t(0.975, df)·σ·√(2/n),
    df = (arms − 1)(n − 1)."""
    from scipy import stats

    return float(stats.t.ppf(0.975, (arms - 1) * (seeds - 1)) * sigma * (2 / seeds) ** 0.5)


def seeds_for(sigma: float, target: float = 6.0) -> int:
    return next(n for n in range(2, 200) if half_width(sigma, n) <= target)


def band_half_width(arm_sd: float, seeds: int, arms: int = DESIGN_ARMS) -> float:
    """A curve point's band (one arm's mean accuracy, seed effects included): t·s/√n with the
    per-arm SD pooled over arms, df = arms·(n − 1)."""
    from scipy import stats

    return float(stats.t.ppf(0.975, arms * (seeds - 1)) * arm_sd / seeds ** 0.5)


def summary(rows: list[dict], variants: list[Variant]) -> tuple[list[dict], dict]:
    import statistics

    out, stats = [], {}
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant.name]
        seconds = [r["seconds"] for r in mine]
        # The model's own accuracy cancels in val − test: what is left is the evaluation sets'
        # noise (which clips each set holds) plus the best-epoch pick's optimism on val.
        eval_sd = statistics.stdev(100 * (r["val"] - r["test"]) for r in mine)
        for split in ("val", "test"):
            result = noise(mine, split)
            stats[f"{variant.name}/{split}"] = result
            arm_sd = result["per_arm_sd"].values()
            pooled = (sum(v * v for v in arm_sd) / len(arm_sd)) ** 0.5
            sigma = result["residual_sd"]
            out.append({
                "variant": variant.name, "split": split,
                "clips": mine[0][f"n_{split}"],
                "mean acc %": " / ".join(f"{v:.1f}" for v in result["mean"].values()),
                "per-arm SD": " / ".join(f"{v:.1f}" for v in arm_sd),
                "paired SD": " / ".join(f"{v:.1f}" for v in result["paired_sd"].values()),
                "residual SD": f"{sigma:.2f} ({result['residual_df']} df)",
                "λ gain ± (5 seeds)": f"±{half_width(sigma, 5):.1f}",
                "seeds for ±6": seeds_for(sigma),
                "band ± (5 seeds)": f"±{band_half_width(pooled, 5):.1f}",
                "SD(val − test)": f"{eval_sd:.1f}",
                "s/run median (min–max)": f"{statistics.median(seconds):.1f} "
                                           f"({min(seconds):.1f}–{max(seconds):.1f})"})
    return out, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_noise", description=__doc__)
    parser.add_argument("--variant", action="append", dest="variants", metavar="SPEC",
                        help="NAME[:key=value,...] (repeatable; default: the profile as it is)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(ARMS_DEFAULT))
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1 per arm")
    parser.add_argument("--processes", type=int, default=2, help="parallel training processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--cache-dir", type=Path, help="synthetic audio and features "
                                                      "(default: a temp dir)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only: leave BENCHMARKS.md and bench/results alone")
    parser.add_argument("--from-rows", type=Path, metavar="FILE",
                        help="train nothing: summarize the rows of an earlier --rows file")
    parser.add_argument("--rows", type=Path, help="append each run's row to this JSON-lines "
                                                   "file as it finishes (a long run's record)")
    args = parser.parse_args(argv)
    if 0.0 not in args.lambdas:
        parser.error("--lambdas must include 0 (the paired differences are against λ = 0)")
    variants = [Variant.parse(v) for v in args.variants or ["default"]]
    apply_threads(args.threads)  # the workers' setting, so the section's machine line says it
    if args.from_rows:
        rows = [json.loads(line) for line in args.from_rows.read_text().splitlines() if line]
        return _report(args, variants, rows, wall=float("nan"))
    with tempfile.TemporaryDirectory(prefix="bench-noise-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        for variant in variants:  # data built before any clock starts
            _load(variant, cache_dir)
        # Seed by seed, every variant and arm: variants see the same load over time.
        jobs = [(v, lam, seed) for seed in range(args.seeds) for v in variants
                for lam in args.lambdas]
        started = time.perf_counter()
        rows = []
        with ProcessPoolExecutor(args.processes, initializer=_start_worker,
                                 initargs=(args.threads,)) as pool:
            futures = [pool.submit(train_one, v, lam, seed, cache_dir) for v, lam, seed in jobs]
            for future in futures:
                rows.append(future.result())
                print(f"  {rows[-1]}", file=sys.stderr, flush=True)
                if args.rows:
                    with args.rows.open("a") as log:
                        log.write(json.dumps(rows[-1]) + "\n")
        wall = time.perf_counter() - started
    return _report(args, variants, rows, wall=wall)


def _report(args, variants: list[Variant], rows: list[dict], *, wall: float) -> int:
    out, stats = summary(rows, variants)
    text = table(out)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"variants": [dataclasses.asdict(v) for v in variants],
                                       "rows": rows, "stats": stats, "wall_s": wall}, indent=1))
        took = "" if math.isnan(wall) else f" in {wall:.0f} s"  # NaN: from --from-rows
        notes = (f"{len(rows)} runs{took} on {args.processes} processes. Arms: λ = "
                 f"{', '.join(f'{x:g}' for x in args.lambdas)} at dropout/hidden of the quick "
                 "profile's baseline; columns with `/` list arms in that order (paired SD: each "
                 "λ > 0 − λ = 0). λ gain ± is t(0.975, 9·(n − 1))·σ·√(2/n) for a 10-arm blocked "
                 "design at n = 5 seeds; seeds for ±6 solves the same for n; band ± is one arm's mean, "
                 "t(0.975, 10·(n − 1))·s/√5 with the per-arm SD s pooled over arms. SD(val − test) "
                 "over a variant's runs: the model's accuracy cancels, the evaluation sets' "
                 "noise is left. Rows: "
                 f"`{RESULTS.relative_to(REPO)}`.")
        update_section("run-noise", section("9. The noise of one run (quick profile, data "
                                            "synthetic)", "cpu", text, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
