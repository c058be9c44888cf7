"""Tests of ``valuelocate data``: stats, validate, export (in process, with typer's runner)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from valuelocate.cli.common import PathError
from valuelocate.cli.data import data_app, lexicon_lines
from valuelocate.data import KINDS, data_file, dataset_hash, load_file
from valuelocate.data.forced_choice import (
    FORCED_CHOICE_FILE,
    FORCED_CHOICE_SPLITS,
    load_forced_choice,
)
from valuelocate.data.lexicon import lexicon_accuracy
from valuelocate.data.schema import DIMENSIONS

runner = CliRunner()


def test_stats_json() -> None:
    result = runner.invoke(data_app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["descriptions"]["total"] == 640
    assert report["prompts"]["total"] == 15_000
    assert report["dataset_hash"] == dataset_hash()


def test_stats_tables() -> None:
    result = runner.invoke(data_app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "near-duplicates" in result.stdout
    assert "self_transcendence" in result.stdout


def test_validate_good_file() -> None:
    result = runner.invoke(data_app, ["validate", str(data_file("questionnaire"))])
    assert result.exit_code == 0, result.output
    assert "valid record" in result.stdout


def test_validate_forced_choice_reports_the_lexicon_per_dimension_and_split() -> None:
    # The shipped items: clean, and a table line per dimension and split (search and dev;
    # test too once appended), each read by a lexicon of the other splits; reported, not an
    # error, although the answers give the pole away.
    rows = lexicon_accuracy(load_forced_choice())
    result = runner.invoke(data_app, ["validate", str(FORCED_CHOICE_FILE)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == lexicon_lines(rows, decision_pairs=False)[:3]
    assert "(0.50: chance; reported, not checked)." in lines[1]
    splits = [s for s in FORCED_CHOICE_SPLITS if load_forced_choice(split=s)]
    assert [(r.dimension, r.split) for r in rows] == [(d, s) for d in DIMENSIONS for s in splits]
    for row in rows:
        fitted = "+".join(s for s in splits if s != row.split)
        line = f"{row.dimension:<20}{row.split:<8}{fitted:<16}{row.n:>6}{row.accuracy:>12.2f}"
        assert line in lines
    assert all(len(line) <= 80 for line in lines[:-1])  # the last names the file


def test_validate_reports_defects_with_exit_code_1(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    good = {"id": "q1", "value": "power", "dimensions": ["self_enhancement"], "text": "They lead."}
    bad = {"id": "q2", "value": "power", "dimensions": ["ambition"], "text": ""}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    result = runner.invoke(data_app, ["validate", str(path), "--kind", "questionnaire"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{path}:2: text: is empty" in lines
    assert any(line.startswith(f"{path}:2: dimensions: unknown dimension") for line in lines)
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_missing_and_binary_files_without_traceback(tmp_path: Path) -> None:
    # A path that is no file is not a defect of the file: a user error (exit 2 from `main`).
    missing = runner.invoke(data_app, ["validate", str(tmp_path / "none.jsonl")])
    assert isinstance(missing.exception, PathError), missing.output
    assert "none.jsonl does not exist; expected a JSONL file" in str(missing.exception)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    binary = runner.invoke(data_app, ["validate", str(blob)])
    assert binary.exit_code == 1
    assert "Traceback" not in binary.output
    assert isinstance(binary.exception, SystemExit)


def test_validate_unknown_kind() -> None:
    result = runner.invoke(data_app, ["validate", str(data_file("prompts")), "--kind", "x"])
    assert result.exit_code == 2
    assert "descriptions, prompts, questionnaire" in result.output


def test_export_round_trips(tmp_path: Path) -> None:
    result = runner.invoke(data_app, ["export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for kind in KINDS:
        exported = tmp_path / "out" / f"{kind}.jsonl"
        assert load_file(exported, kind) == load_file(data_file(kind), kind)
        # plain JSON Lines with the same keys on every line (what datasets' json loader needs)
        keys = {tuple(json.loads(line)) for line in exported.read_text().splitlines()}
        assert len(keys) == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dataset_hash"] == dataset_hash()


def test_mounted_on_the_main_cli() -> None:
    from valuelocate.cli import app

    result = runner.invoke(app, ["data", "--help"])
    assert result.exit_code == 0
    assert "export" in result.stdout
