"""What commands print: JSON without nan, YAML, text, and files written in one step."""

from __future__ import annotations

import json
import math

from study.output import Output, finite, render, write_atomic


def test_json_and_yaml_hold_no_nan():
    output = Output({"a": math.nan, "b": [1.0, math.inf], "c": "x"}, "people's text")
    assert json.loads(render(output, "json")) == {"a": None, "b": [1.0, None], "c": "x"}
    assert "nan" not in render(output, "yaml").lower()
    assert render(output, "table") == "people's text\n"
    assert finite((1.0, math.nan)) == [1.0, None]


def test_compact_json_is_one_line():
    assert render(Output({"a": 1}, compact_json=True), "json") == '{"a": 1}\n'


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_atomic(target, "one\n")
    write_atomic(target, "two\n")
    assert target.read_text() == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]
