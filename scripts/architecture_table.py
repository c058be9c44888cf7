"""Regenerate docs/architecture.md's table: one line per module, from each module's docstring
(first sentence) and line count. Run from the repository root:

    .venv/bin/python scripts/architecture_table.py
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path("src")
DOC = Path("docs/architecture.md")
HEAD = "| module | lines | job |\n| --- | ---: | --- |\n"


def first_sentence(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split())
    end = text.find(". ")
    sentence = text if end < 0 else text[: end + 1]
    return sentence if len(sentence) <= 150 else sentence[:147] + "..."


def main() -> None:
    rows = []
    for path in sorted((SRC / "valuelocate").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        name = path.relative_to(SRC).as_posix()
        rows.append(f"| `{name}` | {lines} | {first_sentence(path).replace('|', '/')} |")
    text = DOC.read_text(encoding="utf-8")
    start = text.index(HEAD)
    end = text.find("\n\n", start)
    tail = "" if end < 0 else text[end:]
    DOC.write_text(text[:start] + HEAD + "\n".join(rows) + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
