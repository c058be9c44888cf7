"""Assembling the report: one self-contained page (no external resources) written
atomically to ``RUN_DIR/report.html``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from valuelocate.artifacts import atomic_write
from valuelocate.reporting.compare import compare_section_from_dir
from valuelocate.reporting.figures import esc, section
from valuelocate.reporting.load import REPORT_NAME, RESULTS_PATH, RunData, load_run
from valuelocate.reporting.locating import layers_section, overlap_section, sparsity_section
from valuelocate.reporting.steering import (
    cost_section,
    dose_response_section,
    examples_section,
    leakage_section,
)
from valuelocate.reporting.verdict import verdict_section

_CSS = """
:root { color-scheme: light; --fg: #1d232a; --muted: #5b6670; --line: #dde3e8;
  --bg: #ffffff; --panel: #f6f8fa; --affirm: #1f5fa8; --oppose: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.9rem; line-height: 1.2; }
header .sub { margin: 0; color: var(--muted); }
nav { margin: 1rem 0 0; padding: .6rem 0; border-top: 1px solid var(--line);
  border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: .25rem 1.1rem;
  font-size: .92rem; }
nav a { color: var(--affirm); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section, footer { margin-top: 2.2rem; }
h2 { font-size: 1.35rem; margin: 0 0 .6rem; padding-bottom: .25rem;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.08rem; margin: 1.4rem 0 .4rem; }
p { margin: .5rem 0; max-width: 75ch; }
figure { margin: 1rem 0; }
img { display: block; max-width: 100%; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .9rem; margin: .6rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { background: var(--panel); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
details { margin: .6rem 0; }
summary { cursor: pointer; color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .86rem; }
pre { background: var(--panel); padding: .75rem; overflow-x: auto; border-radius: 6px; }
.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: .6rem .8rem;
  max-width: none; }
.example { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem;
  margin: 1rem 0; }
.example .steer { margin: 0 0 .3rem; font-size: .85rem; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; }
.prompt { margin: 0 0 .8rem; padding: .2rem 0 .2rem .8rem; border-left: 3px solid var(--line);
  font-style: italic; white-space: pre-wrap; overflow-wrap: anywhere; }
.answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr));
  gap: .8rem; }
.answer { background: var(--panel); border-radius: 6px; padding: .6rem .75rem;
  border-top: 3px solid #888; }
.answer.affirm { border-top-color: var(--affirm); }
.answer.oppose { border-top-color: var(--oppose); }
.answer h4 { margin: 0 0 .35rem; font-size: .85rem; color: var(--muted); }
.answer .text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .92rem;
  max-height: 22rem; overflow-y: auto; }
.small { font-size: .88rem; color: var(--muted); }
.greyed { color: #8a939b; }
ul.verdicts li { margin: .35rem 0; max-width: 80ch; }
.flag { margin-left: .4rem; padding: 0 .35rem; border-radius: 4px; background: #fdecea;
  color: var(--oppose); font-weight: 600; font-size: .75rem; }
footer { color: var(--muted); font-size: .92rem; border-top: 1px solid var(--line);
  padding-top: 1rem; }
footer h2 { border: 0; color: var(--fg); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 600px) { body { font-size: 15px; } main { padding: 1rem .75rem; }
  dl { grid-template-columns: 1fr; } }
"""

# Nothing may be fetched: inline styles and data: images only, no scripts at all.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def missing_evaluation_section(run: RunData) -> str:
    """What to do when ``evaluation/results.json`` does not exist yet (and, after the main
    job's probe, why it was not run)."""
    probe = run.probe or {}
    lead = f"<p>{esc(probe['line'])}</p>" if isinstance(probe.get("line"), str) else ""
    body = lead + (
        "<p class=note>Evaluation has not been run: there is no "
        f"<code>{esc(run.run_dir / RESULTS_PATH)}</code>. Run "
        f"<code>valuelocate evaluate {esc(run.run_dir)}</code> to add dose-response curves, "
        "the perplexity cost, leakage and example answers to this report.</p>"
    )
    return section("evaluation", "Evaluation", body)


def details_section(run: RunData) -> str:
    """Model, options, library versions and the command that made the run."""
    manifest = run.manifest or {}
    model = manifest.get("model", {}) if isinstance(manifest.get("model"), Mapping) else {}
    facts = [
        ("model", model.get("id", manifest.get("model"))),
        ("source", model.get("source")),
        ("revision", model.get("revision")),
        ("family", model.get("family")),
        ("status", manifest.get("status")),
        ("seed", manifest.get("seed")),
        ("dataset hash", (manifest.get("dataset") or {}).get("hash")),
        ("versions", _versions_line(manifest.get("versions"))),
        ("command", manifest.get("command")),
        ("machine index", _machine_line(manifest.get("machine"))),
    ]
    items = "".join(
        f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in facts if v not in (None, "")
    )
    blocks = [f"<dl>{items}</dl>" if items else ""]
    evaluation_options = run.evaluation.options if run.evaluation else None
    for value, title in (
        (manifest.get("options"), "Locating options"),
        (evaluation_options, "Evaluation options"),
    ):
        if value:
            pretty = json.dumps(value, indent=2, sort_keys=True, default=str)
            blocks.append(f"<details><summary>{title}</summary><pre>{esc(pretty)}</pre></details>")
    if run.notes:
        blocks.append(f'<p class="small">Not found: {esc(", ".join(run.notes))}.</p>')
    return f'<footer id="details"><h2>Run details</h2>{"".join(blocks)}</footer>'


# --------------------------------------------------------------------------------------------
# Page


def render_report(run: RunData) -> str:
    """The whole report page as an HTML string."""
    sections = [sparsity_section(run), layers_section(run), overlap_section(run)]
    nav = [
        ("sparsity", "Sparsity"),
        ("layers", "Layer profile"),
        ("overlap", "Overlap"),
    ]
    if run.evaluation is None:
        sections.append(missing_evaluation_section(run))
        nav.append(("evaluation", "Evaluation"))
    else:
        sections += [
            dose_response_section(run, run.evaluation),
            cost_section(run, run.evaluation),
            leakage_section(run, run.evaluation),
            examples_section(run, run.evaluation),
        ]
        nav += [
            ("dose-response", "Dose-response"),
            ("perplexity", "Perplexity cost"),
            ("leakage", "Leakage"),
            ("examples", "Examples"),
        ]
    grid = compare_section_from_dir(run.run_dir / "compare")  # `compare --out RUN_DIR/compare`
    if grid is not None:
        sections.insert(0, grid)
        nav.insert(0, ("compare", "Methods compared"))
    if run.verdict is not None:  # the verdict opens the report
        sections.insert(0, verdict_section(run.verdict))
        nav.insert(0, ("verdict", "Verdict"))
    nav.append(("details", "Run details"))
    links = "".join(f'<a href="#{i}">{esc(t)}</a>' for i, t in nav)
    model = _model_id(run)
    subtitle = f"{model} · {run.run_dir.name}" if model else run.run_dir.name
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>ValueLocate report · {esc(subtitle)}</title><style>{_CSS}</style></head>"
        f"<body><main><header><h1>ValueLocate report</h1>"
        f'<p class="sub">{esc(subtitle)}</p><nav>{links}</nav></header>'
        f"{''.join(sections)}{details_section(run)}</main></body></html>\n"
    )


def _machine_line(machine: Any) -> str | None:
    """The manifest's machine index as one line (:mod:`valuelocate.machine`)."""
    if not isinstance(machine, Mapping) or not isinstance(machine.get("tokens_per_s"), float):
        return None
    seconds = machine.get("seconds") or []
    return (
        f"{machine['tokens_per_s']:.0f} tokens/s (bare forward {machine.get('batch')} x "
        f"{machine.get('length')} tokens, median of {len(seconds)}, {machine.get('device')}, "
        f"{machine.get('threads')} threads)"
    )


def _versions_line(versions: Any) -> str | None:
    """``{"torch": "2.4"}`` -> ``"torch 2.4"``, joined with middle dots."""
    if not isinstance(versions, Mapping) or not versions:
        return None
    return " · ".join(f"{name} {version}" for name, version in versions.items())


def _model_id(run: RunData) -> str:
    model = (run.manifest or {}).get("model")
    if isinstance(model, Mapping):
        return str(model.get("id") or "")
    return str(model or "")


def write_report(run_dir: Path) -> Path:
    """Write ``RUN_DIR/report.html`` (atomically) from the run's artifacts.

    Args:
        run_dir: a run directory written by ``valuelocate locate`` (and maybe ``evaluate``).

    Returns:
        The path of the report.

    Raises:
        ArtifactError: the directory or its ``summary.json`` is missing or corrupt.

    Example:
        >>> write_report(Path("runs/smollm2")).name
        'report.html'
    """
    run = load_run(Path(run_dir))
    page = render_report(run)
    path = run.run_dir / REPORT_NAME

    def write(tmp: Path) -> None:
        tmp.write_text(page, encoding="utf-8")

    atomic_write(path, write)
    return path
