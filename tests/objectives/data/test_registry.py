"""`--data` specs: the forms parse_source accepts, and errors for the others."""

from __future__ import annotations

import pytest

from objectives.data.base import DataSourceError
from objectives.data.registry import parse_source


@pytest.mark.parametrize("spec", ["nope:x", "fma", "folder:", "synthetic:abc", "synthetic:2", ""])
def test_unknown_or_bad_specs(tmp_path, spec):
    with pytest.raises(DataSourceError):
        parse_source(spec, cache_dir=tmp_path)


def test_official_split_only_for_fma(tmp_path):
    with pytest.raises(DataSourceError, match="official"):
        parse_source("synthetic", cache_dir=tmp_path, split="official")
    with pytest.raises(DataSourceError, match="unknown split"):
        parse_source("synthetic", cache_dir=tmp_path, split="random")
