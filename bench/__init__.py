"""Benchmarks (never timed tests): `python -m bench.<name>` from the repository root.

Each benchmark prints a table and rewrites its own section of BENCHMARKS.md with the command,
the machine, and ratios measured side by side in the same run.
"""
