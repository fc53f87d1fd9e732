"""The heartbeat settings: one value, its defaults and its one check."""

from __future__ import annotations

import pytest

from storage import StorageError
from storage.heartbeats import GRACE_FACTOR, MAX_RETRY, Heartbeat, HeartbeatSettingsError


def test_defaults_come_from_one_place():
    assert Heartbeat.of(5) == Heartbeat(5, GRACE_FACTOR * 5, MAX_RETRY)
    assert Heartbeat.of(5, 7, None) == Heartbeat(5, 7, None)
    assert Heartbeat.of(None) is None


@pytest.mark.parametrize(("args", "needle"), [
    ((5, 5), "grace period (5 s) must exceed the heartbeat interval (5 s)"),
    ((0, 9), "heartbeat interval must be positive"),
    ((5, 9, -1), "max retry must be >= 0"),
])
def test_unworkable_settings_are_refused(args, needle):
    with pytest.raises(HeartbeatSettingsError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        Heartbeat(*args)


def test_the_error_is_a_storage_error_and_a_value_error():
    with pytest.raises(StorageError):
        Heartbeat.of(None, 5)
    with pytest.raises(ValueError, match="needs a heartbeat interval"):
        Heartbeat.of(None, 5)
