"""A storage's heartbeat and retry settings: one value, with its defaults and its one check.

A RUNNING trial records a heartbeat every `interval` seconds; one silent for `grace` seconds is
failed by the next worker and re-queued with the same parameters, at most `max_retry` times per
trial (None: no limit).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.errors import StorageError

GRACE_FACTOR = 4  # the grace period when none is given: 4 heartbeat intervals
MAX_RETRY = 3  # re-runs of a trial whose worker died


class HeartbeatSettingsError(StorageError, ValueError):
    """Settings that cannot work (the callers of `study.defaults` expect a ValueError)."""


@dataclass(frozen=True)
class Heartbeat:
    interval: int  # seconds between a running trial's heartbeats
    grace: int  # a RUNNING trial silent this long is failed and retried
    max_retry: int | None = MAX_RETRY

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise HeartbeatSettingsError(
                f"heartbeat interval must be positive, got {self.interval}")
        _check_retry(self.max_retry)
        if self.grace <= self.interval:
            raise HeartbeatSettingsError(
                f"the heartbeat grace period ({self.grace} s) must exceed the heartbeat interval "
                f"({self.interval} s), or live trials would be failed between two heartbeats")

    @classmethod
    def of(cls, interval: int | None, grace: int | None = None,
           max_retry: int | None = MAX_RETRY) -> Heartbeat | None:
        """The settings for an interval (None: no heartbeats), the grace period defaulting to
        `GRACE_FACTOR` intervals."""
        _check_retry(max_retry)
        if interval is None:
            if grace is not None:
                raise HeartbeatSettingsError("a grace period needs a heartbeat interval")
            return None
        return cls(interval, GRACE_FACTOR * interval if grace is None else grace, max_retry)


def _check_retry(max_retry: int | None) -> None:
    if max_retry is not None and max_retry < 0:
        raise HeartbeatSettingsError(f"max retry must be >= 0, got {max_retry}")
