"""`python -m objectives.train`: kept for scripts; the command is `recon-study train` (study/cli.py),
the one command table, so both spellings take the same flags and report errors alike."""

if __name__ == "__main__":
    import sys

    from study.cli import main  # imported only when run: objectives/ does not depend on study/

    raise SystemExit(main(["train", *sys.argv[1:]], prog="python -m objectives.train"))
