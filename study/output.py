"""What a command prints and how: `Output` (data for JSON/YAML, text for people), `render`,
`finite` (JSON holds no nan), and `write_atomic` for `--output FILE`."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Output:
    """What a command prints: `data` for --format json/yaml, `text` for people."""

    data: Any
    text: str | None = None
    code: int = 0
    compact_json: bool = False  # one JSON line (scripts read `train` line by line)


def finite(data: Any) -> Any:
    """`data` with every nan or infinite float replaced by None (JSON has neither)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


def render(output: Output, fmt: str | None) -> str:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(finite(output.data), sort_keys=False, allow_unicode=True)
    if fmt == "json" or output.text is None:
        indent = None if output.compact_json else 2
        return json.dumps(finite(output.data), indent=indent, ensure_ascii=False,
                          allow_nan=False) + "\n"
    return output.text.rstrip("\n") + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` in one step: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
