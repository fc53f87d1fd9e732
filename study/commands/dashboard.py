"""`dashboard`: optuna-dashboard on the resolved storage and artifact store.

The storage URL and the artifact location resolve exactly as for `report` and the workers, so
the dashboard shows the notes, figures and learning curves the report uploaded, for the search
study and its replicates study alike.
"""

from __future__ import annotations

import argparse
import sys

from study import defaults
from study.commands.common import location
from study.errors import UserError
from study.reporting import artifacts


def dashboard_command(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from optuna_dashboard import run_server

    from storage import redact_url
    from study.service import open_storage

    url, _ = location(args)
    where = defaults.artifacts(args.artifacts)
    # The dashboard reads what the report wrote; creating an empty directory is harmless and
    # lets it accept uploads from its UI.
    store = artifacts.open_artifact_store(where)
    storage = open_storage(url, create=False)
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
