"""`valuelocate.reporting.verdict_figures`: the forest plot and the sparsity curve, drawn from
the hand-written version-2 verdict (tests/verdict_fixture.py)."""

from __future__ import annotations

from matplotlib.colors import to_hex

from valuelocate.reporting.verdict_figures import GREY_TEXT, curve_figure, forest_figure
from verdict_fixture import make_verdict


def test_the_forest_plot_has_a_row_per_dimension_and_instrument_greying_what_cannot_read() -> None:
    fig = forest_figure(make_verdict())
    (ax, *_) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 8
    assert labels[0] == "Openness to Change · forced choice"
    assert labels[3] == "Conservation · decision pairs\n(instrument cannot read this model)"
    colours = [to_hex(t.get_color()) for t in ax.get_yticklabels()]
    assert colours[3] == GREY_TEXT and colours.count(GREY_TEXT) == 1
    assert any(line.get_xdata()[0] == 0.0 == line.get_xdata()[-1] for line in ax.get_lines())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["edit: gap, 95% CI", "random sets: band", "label shuffles: band"]
    assert "persona prompt: gap, 95% CI" in legend and "word priming: gap, 95% CI" in legend


def test_the_curve_has_a_log_panel_per_dimension_ending_at_the_band() -> None:
    fig = curve_figure(make_verdict())
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        "Openness to Change", "Conservation", "Self-Transcendence", "Self-Enhancement",
    ]  # fmt: skip
    for ax in axes:
        assert ax.get_xscale() == "log"
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == ["0.1%", "0.5%", "1%", "2%", "5%", "band"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "the default point" in legend and "random sets of the same size: band" in legend


def test_an_empty_verdict_still_draws() -> None:
    verdict = {"version": 2, "dimensions": [{"dimension": "conservation", "curve": []}]}
    forest_figure(verdict)
    curve_figure(verdict)
    forest_figure({"version": 2})
