"""Shared by the standalone benchmarks: record a result in OUT/benchmarks.json and its section
of OUT/benchmarks.md (between ``<!-- NAME:begin -->`` / ``<!-- NAME:end -->``, replaced on
every run, appended when missing)."""
from __future__ import annotations

import json
import pathlib
from typing import Any


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def record(name: str, result: dict[str, Any], section: list[str], out: pathlib.Path, key: str | None = None) -> None:
    """Merge ``result`` under ``key`` (default ``name``) into OUT/benchmarks.json and
    ``section`` (lines) into the block of OUT/benchmarks.md marked ``name``, which suite.py
    regenerates around it."""
    begin, end = markers(name)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "benchmarks.json", out / "benchmarks.md"
    results = json.loads(json_path.read_text()) if json_path.exists() else {}
    results[key or name] = result
    json_path.write_text(json.dumps(results, indent=1))
    block = "\n".join([begin, *section, end])
    text = md_path.read_text() if md_path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    md_path.write_text(text)
