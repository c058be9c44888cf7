"""``valuelocate data``: look at, check and export the ValueInsight dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from valuelocate.cli.common import input_file, output_dir
from valuelocate.data import KINDS, data_file, dataset_hash, summary, validate_file
from valuelocate.data.decision_pairs import (
    LEXICON_BOUNDS,
    load_decision_pairs,
    validate_decision_pairs,
)
from valuelocate.data.forced_choice import (
    ForcedChoiceItem,
    load_forced_choice,
    validate_forced_choice,
)
from valuelocate.data.lexicon import LexiconRow, lexicon_accuracy

data_app = typer.Typer(
    help="The ValueInsight dataset: statistics, validation of your own files, export.",
    no_args_is_help=True,
    add_completion=False,
)


def _table(title: str, counts: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("key")
    table.add_column("count", justify="right")
    for key, count in counts.items():
        table.add_row(key, str(count))
    return table


@data_app.command("stats")
def stats_command(
    as_json: bool = typer.Option(
        False, "--json", help="Print the statistics as JSON instead of tables."
    ),
    threshold: float = typer.Option(
        0.5,
        help="Word 3-gram Jaccard similarity from which two texts count as near-duplicates.",
    ),
) -> None:
    """Counts by dimension, pole, basic value, domain and split; lengths; near-duplicates."""
    report = summary(threshold=threshold)
    report["dataset_hash"] = dataset_hash()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    for part in ("descriptions", "prompts", "questionnaire"):
        section = report[part]
        console.rule(f"{part}: {section['total']}")
        for key, value in section.items():
            if key.startswith("by_"):
                console.print(_table(f"{part} {key.replace('_', ' ')}", value))
        w = section["words"]
        console.print(
            f"words per text: min {w['min']}, median {w['median']}, mean {w['mean']}, "
            f"max {w['max']}"
        )
        if "situations" in section:
            console.print(f"situations: {section['situations']}")
        if "near_duplicates" in section:
            nd = section["near_duplicates"]
            console.print(
                f"near-duplicates ({nd['method']}): {nd['pairs']} pairs, "
                f"{nd['texts_with_duplicate']} texts ({nd['rate']:.2%})"
            )
    console.print(f"dataset hash: {report['dataset_hash']}")


def _item_kind(path: Path) -> str | None:
    """``forced_choice`` or ``decision_pairs`` when the file's first record has the
    forced-choice items' fields (decision pairs: an id ``dp-...``), else ``None``."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        record = json.loads(first) if first else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or not {"situation", "affirm", "oppose"} <= set(record):
        return None
    return "decision_pairs" if str(record.get("id", "")).startswith("dp-") else "forced_choice"


ITEM_KINDS = ("forced_choice", "decision_pairs")


def lexicon_lines(rows: list[LexiconRow], *, decision_pairs: bool) -> list[str]:
    """The lexicon check as a table under 80 columns: per dimension and split, the share of
    items a bag-of-words lexicon fitted on the dimension's other splits reads right."""
    low, high = LEXICON_BOUNDS
    bound = f"must lie in {low:.2f}-{high:.2f}" if decision_pairs else "reported, not checked"
    lines = [
        "Lexicon: share of items read right from the answers alone by a bag of words",
        f"fitted on the dimension's other splits (0.50: chance; {bound}).",
        f"{'dimension':<20}{'split':<8}{'fitted on':<16}{'items':>6}{'read right':>12}",
    ]
    lines += [
        f"{r.dimension:<20}{r.split:<8}{'+'.join(r.fitted_on):<16}{r.n:>6}{r.accuracy:>12.2f}"
        for r in rows
    ]
    return lines


@data_app.command("validate")
def validate_command(
    path: Path = typer.Argument(
        ..., help="A JSONL file of descriptions, prompts or items.", readable=False
    ),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="Record kind: descriptions, prompts, questionnaire, forced_choice or "
        "decision_pairs (default: guessed from the first record's fields).",
    ),
) -> None:
    """Check a JSONL file; print every defect as FILE:LINE: FIELD: MESSAGE; exit 1 if any.
    For forced-choice items and decision pairs, also print per dimension and split the share a
    bag-of-words lexicon fitted on the dimension's other splits reads right (decision pairs:
    0.40-0.60, else an error naming the items it reads; forced-choice items: reported)."""
    if kind is not None and kind not in (*KINDS, *ITEM_KINDS):
        choices = ", ".join((*KINDS, *ITEM_KINDS))
        typer.echo(f"unknown kind {kind!r}; choose one of: {choices}", err=True)
        raise typer.Exit(2)
    path = input_file(path, "PATH")
    item_kind = kind if kind in ITEM_KINDS else (_item_kind(path) if kind is None else None)
    records: list[Any]
    if item_kind == "decision_pairs":
        issues = validate_decision_pairs(path)
        records = [] if issues else list(load_decision_pairs(path=path))
    elif item_kind == "forced_choice":
        issues = validate_forced_choice(path)
        records = [] if issues else list(load_forced_choice(path=path))
    else:
        records, issues = validate_file(path, kind)  # type: ignore[arg-type]
    for issue in issues:
        typer.echo(str(issue))
    if issues:
        typer.echo(f"{len(issues)} problem(s), {len(records)} valid record(s)", err=True)
        raise typer.Exit(1)
    items = [r for r in records if isinstance(r, ForcedChoiceItem)]
    if rows := lexicon_accuracy(items):
        for line in lexicon_lines(rows, decision_pairs=item_kind == "decision_pairs"):
            typer.echo(line)
    typer.echo(f"{path}: {len(records)} valid record(s)")


@data_app.command("export")
def export_command(
    out_dir: Path = typer.Argument(
        ..., help="New (or empty) folder to write the three JSONL files into.", readable=False
    ),
) -> None:
    """Write descriptions.jsonl, prompts.jsonl and questionnaire.jsonl to a folder.

    The files are plain JSON Lines with the same fields on every line, so that
    ``datasets.load_dataset("json", data_files=...)`` or pandas can read them.
    """
    output_dir(out_dir, "OUT_DIR").mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        target = out_dir / f"{kind}.jsonl"
        target.write_bytes(data_file(kind).read_bytes())
        typer.echo(f"wrote {target}")
    manifest = {"dataset_hash": dataset_hash(), "files": [f"{k}.jsonl" for k in KINDS]}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
