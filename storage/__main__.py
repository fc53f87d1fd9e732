"""`python -m storage check`: kept for scripts; the command is `recon-study check` (study/cli.py),
the one command table, so both spellings take the same flags and report errors alike."""

if __name__ == "__main__":
    import sys

    from study.cli import main  # imported only when run: storage/ does not depend on study/

    raise SystemExit(main(sys.argv[1:], prog="python -m storage", only=("check",)))
