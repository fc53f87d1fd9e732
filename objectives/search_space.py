"""The search space: the only place that calls `trial.suggest_*`.

λ is searched as `log10_lambda`; the bottom decade of its range means λ = 0, so the baseline
lives in the same parameter as every other λ and enters the same importance analysis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import optuna

from objectives.profiles import Profile


@dataclass(frozen=True)
class TrialParams:
    """What the model and training need, as plain numbers (the model never sees a trial)."""

    lam: float
    dropout: float
    hidden: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def lambda_from_log10(log10_lambda: float, profile: Profile) -> float:
    """The effective λ for a searched `log10_lambda`: 0 below the profile's cut-off."""
    if log10_lambda < profile.search.lambda_off_below:
        return 0.0
    return float(10.0**log10_lambda)


def suggest(trial: optuna.trial.BaseTrial, profile: Profile) -> TrialParams:
    """Ask the trial for one configuration and record the effective λ as user attribute."""
    bounds = profile.search
    log10_lambda = trial.suggest_float("log10_lambda", *bounds.log10_lambda)
    dropout = trial.suggest_float("dropout", *bounds.dropout)
    low, high, step = bounds.hidden
    hidden = trial.suggest_int("hidden", low, high, step=step)
    params = TrialParams(lam=lambda_from_log10(log10_lambda, profile), dropout=dropout,
                         hidden=hidden)
    trial.set_user_attr("lambda", params.lam)
    return params


def from_params(params: dict[str, Any], profile: Profile) -> TrialParams:
    """Rebuild a configuration from stored parameters (for example `study.best_params`)."""
    return TrialParams(lam=lambda_from_log10(float(params["log10_lambda"]), profile),
                       dropout=float(params["dropout"]), hidden=int(params["hidden"]))


def baseline_params(profile: Profile) -> dict[str, Any]:
    """Parameters of the λ = 0 baseline trial with the reference's dropout and hidden size."""
    bounds = profile.search
    return {"log10_lambda": bounds.log10_lambda[0], "dropout": bounds.baseline_dropout,
            "hidden": bounds.baseline_hidden}


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
