"""The neutral texts: value-free facts and instructions, written by this project, on which an
edit's cost (perplexity ratio or token KL, :mod:`valuelocate.steering.budget`) is measured."""

from __future__ import annotations

import json
from pathlib import Path

_NEUTRAL_FILE = Path(__file__).parent / "files" / "neutral.jsonl"


def load_neutral_texts(path: Path | None = None) -> list[str]:
    """The neutral texts whose perplexity measures an edit's cost (value-free facts and
    instructions, written by this project)."""
    lines = (path or _NEUTRAL_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


__all__ = ["load_neutral_texts"]
