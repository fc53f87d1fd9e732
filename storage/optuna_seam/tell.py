"""What Optuna raises when a tell goes wrong: recognised by its message or its context, since no
exception type marks either case."""

from __future__ import annotations


def tell_was_refused(exc: BaseException) -> bool:
    """Optuna refused our tell because the trial is finished already (another worker failed our
    trial as stale after a pause): recognised by Optuna's message, which no exception type marks."""
    return isinstance(exc, ValueError) and "Cannot tell a" in str(exc)


def error_behind(exc: BaseException) -> BaseException:
    """The error that really happened. When the storage fails inside Optuna's `_run_trial` while
    telling, Optuna's own clean-up raises over it, the database error being its context: an
    UnboundLocalError (`updated_state`) when the database is still away, or its `assert False,
    "Should not reach."` when the database answers again by then (the trial is still RUNNING)."""
    if exc.__context__ is not None and (isinstance(exc, UnboundLocalError) or (
            isinstance(exc, AssertionError) and str(exc).startswith("Should not reach"))):
        return exc.__context__
    return exc
