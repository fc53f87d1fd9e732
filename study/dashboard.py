"""`python -m study dashboard`: optuna-dashboard on the resolved storage and artifact store.

The storage URL and the artifact location resolve exactly as for `report` and the workers, so
the dashboard shows the notes, figures and learning curves the report uploaded.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from study import artifacts

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dashboard's own flags (the shared ones come from `study.options.add_common_flags`)."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default "
                        f"{DEFAULT_HOST}; 0.0.0.0 to reach it from other machines)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--artifacts", help="artifact store: a directory, file://DIR, "
                        f"s3://BUCKET or gs://BUCKET (else {artifacts.ARTIFACTS_ENV}, else "
                        f"{artifacts.DEFAULT_ARTIFACTS})")


def build_parser() -> argparse.ArgumentParser:
    from study.options import add_common_flags

    parser = argparse.ArgumentParser(prog="python -m study dashboard", description=__doc__)
    add_common_flags(parser)
    add_arguments(parser)
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until interrupted. Returns the exit code."""
    from optuna_dashboard import run_server

    from storage import StorageError, open_storage, redact_url
    from study.options import UserError, resolve

    try:
        settings = resolve(args)
        location = artifacts.resolve_artifacts_location(args.artifacts)
        # The dashboard reads what the report wrote; creating an empty directory is harmless
        # and lets it accept uploads from its UI.
        store = artifacts.open_artifact_store(location)
        storage = open_storage(settings.storage_url, heartbeat_interval=None)
    except (UserError, StorageError, artifacts.ArtifactStoreError) as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"optuna-dashboard on http://{args.host}:{args.port}/ — storage "
          f"{redact_url(settings.storage_url)}, artifacts {location} (Ctrl-C stops it)",
          file=sys.stderr, flush=True)
    try:
        run_server(storage, host=args.host, port=args.port, artifact_store=store)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}; pick another "
              "--port", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
