"""`python -m study`: the service's command line (see study/cli.py)."""

from __future__ import annotations

from study.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
