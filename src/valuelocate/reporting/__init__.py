"""The report: one self-contained HTML page that shows what a run found (``valuelocate
report RUN_DIR``).

The report reads the run directory's JSON artifacts and writes ``RUN_DIR/report.html``:

1. :func:`load_run` reads ``summary.json`` (required), ``manifest.json``, ``neurons.json`` and
   ``evaluation/results.json`` (each optional) into a :class:`RunData`.
2. One function per section turns it into HTML; plots are drawn with matplotlib's
   object-oriented API (no pyplot, so no global figure state) and embedded as base64 PNG.
3. :func:`write_report` assembles the page and writes it atomically.

The page loads nothing from anywhere: no external CSS, scripts or fonts, and a
Content-Security-Policy that forbids them, so it opens offline and mailed as one file. Every
string that comes from data (answers are model output) goes through :func:`html.escape`.

Example:
    >>> write_report(Path("runs/smollm2"))
    PosixPath('runs/smollm2/report.html')
"""

from valuelocate.reporting.html import render_report, write_report
from valuelocate.reporting.load import REPORT_NAME, Evaluation, RunData, load_run, parse_evaluation

__all__ = [
    "REPORT_NAME",
    "Evaluation",
    "RunData",
    "load_run",
    "parse_evaluation",
    "render_report",
    "write_report",
]
