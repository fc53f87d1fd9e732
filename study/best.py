"""`python -m study.best export|evaluate`: the documented name of `recon-study export|evaluate`."""

from __future__ import annotations

if __name__ == "__main__":
    from study.cli import main

    raise SystemExit(main(prog="python -m study.best", only=("export", "evaluate")))
