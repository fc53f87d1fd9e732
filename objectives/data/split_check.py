"""Per-class split sizes, and the check that every split gets clips, told before any decoding.

A seeded split gives a class of n files round(0.1 n) val and round(0.2 n) test files (half up),
so small classes get train files only. `check_splits` says so per class, with numbers, and
refuses a source whose val or test split would be empty altogether.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from objectives.data.base import SPLITS, DataSource, DataSourceError, split_counts

SHOWN_CLASSES = 12  # classes listed in one error line


def split_sizes(labelled: Iterable[tuple[str, str]], classes: Sequence[str] = ()
                ) -> dict[str, dict[str, int]]:
    """Per class, its number of files in each split, from (label, split) pairs.

    Classes come in `classes` order (a class without files shows zeros), then any others.
    """
    sizes = {label: dict.fromkeys(SPLITS, 0) for label in classes}
    for label, split in labelled:
        sizes.setdefault(label, dict.fromkeys(SPLITS, 0))[split] += 1
    return sizes


def min_files(split: str) -> int:
    """The smallest class that gets a clip of `split` under the seeded split (val 5, test 3)."""
    index = SPLITS.index(split)
    return next(n for n in range(1, 1000) if split_counts(n)[index] > 0)


def _per_class(sizes: Mapping[str, Mapping[str, int]]) -> str:
    shown = [f"{label} {sum(counts.values())}" for label, counts in sizes.items()]
    more = f", … ({len(shown)} classes)" if len(shown) > SHOWN_CLASSES else ""
    return ", ".join(shown[:SHOWN_CLASSES]) + more


def _needs(splits: Sequence[str]) -> str:
    return " and ".join(f">= {min_files(split)} files for a {split} clip" for split in splits)


def check_split_sizes(sizes: Mapping[str, Mapping[str, int]], *, what: str) -> list[str]:
    """One warning per class that gets no val or no test clip; DataSourceError (one line) when a
    split is empty altogether. `what` names the source in the messages."""
    empty = [split for split in SPLITS if not any(counts[split] for counts in sizes.values())]
    if empty:
        raise DataSourceError(
            f"the {' and the '.join(empty)} split{'s' * (len(empty) > 1)} of {what} "
            f"{'are' if len(empty) > 1 else 'is'} empty (files per class: {_per_class(sizes)}); "
            f"with the seeded 70/10/20 split a class needs {_needs(empty)}: add recordings")
    warnings = []
    for label, counts in sizes.items():
        missing = [split for split in SPLITS[1:] if not counts[split]]
        if missing:
            warnings.append(
                f"class {label!r} of {what} has {sum(counts.values())} file(s): "
                f"{counts['train']} train, {counts['val']} val, {counts['test']} test, so no "
                f"{' and no '.join(missing)} clip; a class needs {_needs(missing)}")
    return warnings


def check_splits(source: DataSource) -> list[str]:
    """`check_split_sizes` of a source's files, in its class order; no audio is decoded."""
    return check_split_sizes(split_sizes(source.labelled_splits(), source.classes),
                             what=source.spec)
