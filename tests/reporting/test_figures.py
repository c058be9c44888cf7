"""`valuelocate.reporting.figures`: the report's small building blocks, by hand."""

from __future__ import annotations

import base64
import math
import struct

from matplotlib.figure import Figure

from valuelocate.reporting.figures import (
    esc,
    figure_html,
    fmt,
    fmt_gamma,
    html_table,
    mpl_text,
    png_width,
    section,
)


def test_numbers_and_text() -> None:
    assert fmt(0.12345) == "0.123" and fmt(0.5, 1, sign=True) == "+0.5"
    assert fmt(None) == "–" and fmt(math.nan) == "–"
    assert fmt_gamma(None) == "–" and fmt_gamma(1.0) == "1" and fmt_gamma(0.25) == "0.25"
    assert esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert mpl_text("cost $5") == r"cost \$5"


def test_table_and_section() -> None:
    table = html_table(["name", "n"], [["a", "1"], ["b", "2"]])
    assert "<th>name</th><th class=num>n</th>" in table
    assert "<tr><td>a</td><td class=num>1</td></tr>" in table
    assert section("x", "A & B", "<p>") == '<section id="x"><h2>A &amp; B</h2><p></section>'


def test_figures_are_embedded_pngs_at_their_width() -> None:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 300, 20)
    assert png_width(header) == 300
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    html = figure_html(fig, 'a "line"')
    encoded = html.split("base64,")[1].split('"')[0]
    data = base64.b64decode(encoded)
    assert data.startswith(b"\x89PNG") and 'alt="a &quot;line&quot;"' in html
    assert f'width="{round(png_width(data) * 100 / 150)}"' in html
