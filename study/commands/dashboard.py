"""`dashboard`: optuna-dashboard on the resolved storage and artifact store.

The storage URL and the artifact location resolve exactly as for `report` and the workers (the
study named by `--study` gives the recorded store), so the dashboard shows the notes, figures,
learning curves and models they uploaded, for the search study and its replicates study alike.
"""

from __future__ import annotations

import argparse
import sys

from study import defaults
from study.artifact_store import open_artifact_store
from study.commands.common import location
from study.errors import UserError


def dashboard_command(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from optuna_dashboard import run_server

    from storage import redact_url
    from study.service import open_study_storage

    url, name = location(args)
    storage = open_study_storage(url, create=False)
    where = defaults.artifacts(args.artifacts, recorded=_recorded(storage, name))
    # The dashboard reads what the report and the workers wrote; creating an empty directory is
    # harmless and lets it accept uploads from its UI.
    store = open_artifact_store(where)
    print(f"optuna-dashboard on http://{args.host}:{args.port}/ — storage {redact_url(url)}, "
          f"artifacts {where} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        run_server(storage, host=args.host, port=args.port, artifact_store=store)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}; pick "
                        "another --port") from None
    except KeyboardInterrupt:
        pass
    return 0


def _recorded(storage, name: str) -> str | None:
    """The artifact store the study `name` was created with, if it exists and recorded one."""
    from study.service import ARTIFACTS_ATTR

    try:
        value = storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    except KeyError:
        return None
    return value.get(ARTIFACTS_ATTR) or None
