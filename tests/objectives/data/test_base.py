"""What every source shares: the seeded stratified split and the natural class order."""

from __future__ import annotations

from collections import Counter

from objectives.data.base import natural_key, stratified_split


def test_stratified_split_proportions_and_stability():
    ids = [f"{label}{n}" for label in "ab" for n in range(100)]
    labels = [i[0] for i in ids]
    split = stratified_split(ids, labels, seed=0)
    assert Counter((i[0], s) for i, s in split.items()) == {
        ("a", "train"): 70, ("a", "val"): 10, ("a", "test"): 20,
        ("b", "train"): 70, ("b", "val"): 10, ("b", "test"): 20}
    # Adding a class leaves the others' assignments alone.
    more = stratified_split(ids + ["c1", "c2"], labels + ["c", "c"], seed=0)
    assert all(more[i] == split[i] for i in ids)


def test_natural_order():
    assert sorted(["10", "2", "1", "b", "A"], key=natural_key) == ["1", "2", "10", "A", "b"]
