"""The PostgreSQL server ends the session of a host that stopped answering within seconds.

Every session the service opens asks the server for TCP keepalives (10 s idle, then every 5 s,
3 unanswered) and a 25 s TCP user timeout, so the locks of a host that vanished are released.
The network-namespace scenario `test_a_host_that_vanishes_holding_the_study_lock` shows the
effect; this test checks the settings a real server applied to a real session.
"""

from __future__ import annotations

import pytest
import sqlalchemy

from storage import open_storage
from storage.rdb import SERVER_DEAD_PEER_S

SETTINGS = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
            "tcp_user_timeout")


def _shown(url: str) -> dict[str, str]:
    with open_storage(url).engine.connect() as conn:
        return {name: conn.execute(sqlalchemy.text(f"SHOW {name}")).scalar() for name in SETTINGS}


@pytest.mark.postgres
def test_every_session_asks_the_server_to_drop_a_silent_host(postgres_db_url: str) -> None:
    # Over TCP (a Unix socket would show 0: it has no keepalives).
    assert _shown(postgres_db_url) == {
        "tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3", "tcp_user_timeout": str(SERVER_DEAD_PEER_S * 1000)}
    # A URL that sets `options` itself keeps its own.
    own = _shown(postgres_db_url + "?options=-c%20tcp_keepalives_idle%3D60")
    assert own["tcp_keepalives_idle"] == "60" and own["tcp_user_timeout"] == "0"
