"""The layout: no source module over 400 lines, and one rule for where tests live.

The rule, the same for every package: the tests of ``valuelocate/<package>/`` live in
``tests/<package>/``, and every module of the package is imported by name (``valuelocate.<package>
.<module>``, or ``from valuelocate.<package> import <module>``) by at least one test module
there; the package's ``__init__`` counts as imported when a test imports from the package. The
top level is the root package: its modules are imported by the test modules directly in
``tests/``. No list of exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "valuelocate"
TESTS = Path(__file__).resolve().parent
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path: Path) -> str:
    parts = ("valuelocate", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(folder: Path) -> set[str]:
    """Every ``valuelocate...`` name the test modules directly in ``folder`` import: modules,
    and ``package.name`` for ``from package import name``."""
    names: set[str] = set()
    for test in folder.glob("test_*.py"):
        for node in ast.walk(ast.parse(test.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names if a.name.startswith("valuelocate"))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("valuelocate"):
                names.add(node.module or "")
                names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_source_module_is_over_400_lines() -> None:
    lengths = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in _modules()}
    assert not {n: k for n, k in lengths.items() if k > MAX_LINES}


def test_serve_app_is_only_routes() -> None:
    assert len((SRC / "serve" / "app.py").read_text().splitlines()) <= 150


def test_every_module_is_imported_by_the_tests_of_its_package() -> None:
    missing = []
    for path in _modules():
        if path.name == "__main__.py":
            continue  # ``python -m valuelocate``: tests/cli runs the command line
        package = path.relative_to(SRC).parts[:-1]
        folder = TESTS.joinpath(*package)
        if not folder.is_dir() or _dotted(path) not in _imported(folder):
            missing.append(f"{_dotted(path)} (tests/{'/'.join(package) or ''})")
    assert not missing, missing


def test_every_test_folder_is_a_package_of_the_source() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert folders <= packages, folders - packages


def test_docs_architecture_lists_every_module() -> None:
    # Regenerate with `.venv/bin/python scripts/architecture_table.py`.
    table = (TESTS.parent / "docs" / "architecture.md").read_text()
    missing = [
        str(p.relative_to(SRC.parent)) for p in _modules()
        if f"`{p.relative_to(SRC.parent).as_posix()}`" not in table
    ]  # fmt: skip
    assert not missing, f"not in docs/architecture.md: {missing}"
