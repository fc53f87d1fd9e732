"""The search space: the only place that calls `trial.suggest_*`.

λ is searched as `log10_lambda`; the bottom decade of its range means λ = 0, so the baseline
lives in the same parameter as every other λ and enters the same importance analysis.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import optuna

from objectives.profiles import Profile, SearchBounds

LAMBDA_PARAM = "log10_lambda"
LAMBDA_ATTR = "lambda"  # user attribute: the effective λ a trial trained with


@dataclass(frozen=True)
class TrialParams:
    """What the model and training need, as plain numbers (the model never sees a trial)."""

    lam: float
    dropout: float
    hidden: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def lambda_from_log10(log10_lambda: float, bounds: SearchBounds) -> float:
    """The effective λ for a searched `log10_lambda`: 0 below the bounds' cut-off.

    The only place that decodes λ; everything else reads the `lambda` user attribute or calls this.
    """
    if log10_lambda < bounds.lambda_off_below:
        return 0.0
    return float(10.0**log10_lambda)


def suggest(trial: optuna.trial.BaseTrial, bounds: SearchBounds) -> TrialParams:
    """Ask the trial for one configuration and record the effective λ as user attribute."""
    log10_lambda = trial.suggest_float(LAMBDA_PARAM, *bounds.log10_lambda)
    dropout = trial.suggest_float("dropout", *bounds.dropout)
    low, high, step = bounds.hidden
    hidden = trial.suggest_int("hidden", low, high, step=step)
    params = TrialParams(lam=lambda_from_log10(log10_lambda, bounds), dropout=dropout,
                         hidden=hidden)
    trial.set_user_attr(LAMBDA_ATTR, params.lam)
    return params


def params_of(params: TrialParams, bounds: SearchBounds) -> dict[str, Any]:
    """The searched parameters of a configuration (λ = 0 at the bottom of the λ range)."""
    log10_lambda = math.log10(params.lam) if params.lam > 0 else bounds.log10_lambda[0]
    return {LAMBDA_PARAM: log10_lambda, "dropout": params.dropout, "hidden": params.hidden}


def record_fixed(trial: optuna.trial.BaseTrial, bounds: SearchBounds) -> None:
    """Suggest the three parameters of a trial enqueued with fixed values (`params_of`): a
    replicate run then shows in the search's own space (the dashboard's importance and slices
    need parameters), while training takes its configuration from the plan."""
    trial.suggest_float(LAMBDA_PARAM, *bounds.log10_lambda)
    trial.suggest_float("dropout", *bounds.dropout)
    low, high, step = bounds.hidden
    trial.suggest_int("hidden", low, high, step=step)


def from_params(params: dict[str, Any], bounds: SearchBounds) -> TrialParams:
    """Rebuild a configuration from stored parameters (for example `study.best_params`)."""
    return TrialParams(lam=lambda_from_log10(float(params[LAMBDA_PARAM]), bounds),
                       dropout=float(params["dropout"]), hidden=int(params["hidden"]))


def effective_lambda(trial: optuna.trial.FrozenTrial,
                     bounds: SearchBounds | None = None) -> float | None:
    """The λ a trial trained with: its `lambda` user attribute, else decoded from its parameter
    with `bounds` (the study's); None when neither is there (a trial of another objective)."""
    if LAMBDA_ATTR in trial.user_attrs:
        return float(trial.user_attrs[LAMBDA_ATTR])
    if bounds is not None and LAMBDA_PARAM in trial.params:
        return lambda_from_log10(float(trial.params[LAMBDA_PARAM]), bounds)
    return None


def baseline_params(bounds: SearchBounds) -> dict[str, Any]:
    """Parameters of the λ = 0 baseline trial with the reference's dropout and hidden size."""
    return {"log10_lambda": bounds.log10_lambda[0], "dropout": bounds.baseline_dropout,
            "hidden": bounds.baseline_hidden}


def with_ranges(profile: Profile, *, lambda_range: tuple[float, float] | None = None,
                dropout_range: tuple[float, float] | None = None,
                hidden_range: tuple[int, int, int] | None = None) -> Profile:
    """The profile with user-given search ranges (λ in its own units), validated.

    λ from LOW to HIGH is searched on a log scale, with the decade below LOW meaning λ = 0.
    The baseline's dropout and hidden size are moved to the nearest value inside new ranges.
    """
    bounds = profile.search
    changes: dict[str, Any] = {}
    if lambda_range is not None:
        low, high = lambda_range
        if not 0 < low < high:
            raise ValueError(f"the λ range must satisfy 0 < low < high, got {low}..{high}")
        changes.update(log10_lambda=(math.log10(low) - 1.0, math.log10(high)),
                       lambda_off_below=math.log10(low))
    if dropout_range is not None:
        changes["dropout"] = tuple(float(v) for v in dropout_range)
    if hidden_range is not None:
        changes["hidden"] = tuple(int(v) for v in hidden_range)
    bounds = dataclasses.replace(bounds, **changes)
    d_lo, d_hi = bounds.dropout
    h_lo, h_hi, step = bounds.hidden
    if step > 0 and h_lo <= h_hi:
        grid = range(h_lo, h_hi + 1, step)
        hidden = min(grid, key=lambda h: abs(h - bounds.baseline_hidden))
    else:
        hidden = bounds.baseline_hidden  # validate() reports the range itself
    bounds = dataclasses.replace(bounds, baseline_hidden=hidden,
                                 baseline_dropout=min(max(bounds.baseline_dropout, d_lo), d_hi))
    adjusted = dataclasses.replace(profile, search=bounds)
    validate(adjusted)
    return adjusted


def validate(profile: Profile) -> None:
    """Raise ValueError with a clear message if the profile's bounds cannot be searched."""
    bounds = profile.search
    lo, hi = bounds.log10_lambda
    if not lo < hi:
        raise ValueError(f"log10_lambda bounds must satisfy low < high, got {lo}..{hi}")
    if not lo <= bounds.lambda_off_below <= hi:
        raise ValueError("lambda_off_below must lie inside the log10_lambda bounds")
    d_lo, d_hi = bounds.dropout
    if not 0.0 <= d_lo <= d_hi < 1.0:
        raise ValueError(f"dropout bounds must satisfy 0 <= low <= high < 1, got {d_lo}..{d_hi}")
    h_lo, h_hi, step = bounds.hidden
    if not (0 < h_lo <= h_hi and step > 0):
        raise ValueError(f"hidden bounds must satisfy 0 < low <= high, step > 0; got {bounds.hidden}")
    if not (d_lo <= bounds.baseline_dropout <= d_hi and h_lo <= bounds.baseline_hidden <= h_hi):
        raise ValueError("the λ = 0 baseline's dropout and hidden size must lie inside the ranges")
