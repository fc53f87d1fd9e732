"""`--data` specs: `synthetic[:N]`, `fma:DIR`, `folder:DIR`, turned into sources.

`normalize_spec` checks a spec's syntax and makes its DIR absolute, the form a study stores;
`parse_source` opens the source (and says what is wrong with the directory, if anything).
"""

from __future__ import annotations

import os
from pathlib import Path

from objectives.data.base import DataSource, DataSourceError, check_split_mode
from objectives.data.fma import FmaSource
from objectives.data.folder import FolderSource
from objectives.data.synthetic import DEFAULT_PER_CLASS, SyntheticSource

MIN_SYNTHETIC_PER_CLASS = 5  # the smallest class that gets a val and a test clip


def _parse(spec: str) -> tuple[str, str]:
    """(scheme, rest) of a well-formed spec; DataSourceError naming the forms otherwise."""
    scheme, sep, rest = spec.partition(":")
    if scheme == "synthetic":
        if sep and (not rest.isdigit() or int(rest) < MIN_SYNTHETIC_PER_CLASS):
            raise DataSourceError(f"bad data source {spec!r}: synthetic:N needs N >= "
                                  f"{MIN_SYNTHETIC_PER_CLASS} clips per class")
        return scheme, rest
    if scheme in ("fma", "folder") and sep and rest:
        return scheme, rest
    raise DataSourceError(
        f"unknown data source {spec!r}; use synthetic, synthetic:N, fma:DIR or folder:DIR")


def normalize_spec(spec: str) -> str:
    """`spec` with its DIR made absolute (`folder:rel` → `folder:/abs/rel`); nothing is opened."""
    scheme, rest = _parse(spec)
    if scheme == "synthetic":
        return spec
    return f"{scheme}:{os.path.abspath(Path(rest).expanduser())}"


def parse_source(spec: str, *, cache_dir: Path, split: str = "seed", seed: int = 0) -> DataSource:
    """Turn a `--data` value into a source: `synthetic[:N]`, `fma:DIR` or `folder:DIR`.

    `cache_dir` is where the synthetic source writes its audio; `seed` chooses the seeded split.
    """
    scheme, rest = _parse(spec)
    if scheme == "synthetic":
        check_split_mode(split, official_ok=False, spec=spec)
        return SyntheticSource(Path(cache_dir), per_class=int(rest) if rest else DEFAULT_PER_CLASS,
                               split_seed=seed)
    cls = FmaSource if scheme == "fma" else FolderSource
    return cls(Path(rest), split=split, seed=seed)
