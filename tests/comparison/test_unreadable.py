"""A dimension no judged instrument can read is not judged, and costs seconds: the verdict's
default on the real 260k-parameter Llama, whose persona prompts separate nothing. Its positive
control is the full sweep's to the bit, its served edit is the whole band at a gamma within the
budget, Holm keeps the four-dimension family, and every reader of the verdict (the terminal
lines, the report, the export) says what was not measured instead of failing."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import serve_fixtures as fx
from valuelocate import run_edit
from valuelocate.artifacts.export import export_run
from valuelocate.artifacts.ladders import load_ladders
from valuelocate.artifacts.verdict import load_verdict
from valuelocate.comparison import judging
from valuelocate.comparison.unreadable import WHY
from valuelocate.comparison.verdict import VerdictOptions, run_verdict
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.reporting import write_report
from valuelocate.reporting.verdict import verdict_lines
from valuelocate.steering.budget import NeutralCost

lm, located_run = fx.lm, fx.run_dir  # the shared stories260k model and its located run

pytestmark = fx.needs_stories

OPTIONS = VerdictOptions(
    verdict_items=4, neutral_texts=2, steps=1, start_gamma=1.0, random_sets=3, shuffles=20,
    agreement_items=2,
)  # fmt: skip
LINES: list[str] = []
SHARES: list[float] = []


@pytest.fixture(scope="module")
def verdicts(lm, located_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The default verdict (unreadable dimensions not judged) and the full sweep's."""
    out = {}
    for name, options in (("brief", OPTIONS), ("full", replace(OPTIONS, sweep_unreadable=True))):
        run_dir = tmp_path_factory.mktemp(name) / "run"
        shutil.copytree(located_run, run_dir)
        say, share = (LINES.append, SHARES.append) if name == "brief" else (None, None)
        out[name] = (
            run_dir, run_verdict(run_dir, lm=lm, options=options, progress=say, fraction=share)
        )  # fmt: skip
    return out


def _reads(record: dict) -> bool:  # type: ignore[type-arg]
    return any(r["prompt"]["reads"] for r in record["readings"].values())


def test_a_dimension_no_instrument_reads_is_not_judged(verdicts) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = verdicts["brief"]
    data = load_verdict(run_dir)
    ladders = load_ladders(run_dir)
    records = data["dimensions"]
    assert [d["measured"] for d in records] == [_reads(d) for d in records]
    unread = [d for d in records if not d["measured"]]
    assert unread, "the tiny model should read no value: the path under test did not run"
    for d in unread:
        band = len(ladders[d["dimension"]].sizes) - 1
        assert d["default"]["point"] == band and d["default"]["label"] == "band"
        assert d["default"]["neurons"] == ladders[d["dimension"]].sizes[band]
        assert d["default"]["accepted"] is False and d["why"] == WHY
        assert d["curve"] == [] and d["agreement"] == {}
        for reading in d["readings"].values():
            assert reading["prompt"]["reads"] is False and reading["beats_all"] is False
            for test in judging.TESTS:
                assert reading[test] == {"p": None, "p_holm": None}
        assert any(f"{d['dimension']}: not judged" in line for line in LINES)
    # the progress bar's share still rises to one, each unread dimension weighing little
    assert sorted(SHARES) == SHARES and SHARES[-1] == pytest.approx(1.0)
    # the study's row reads only the measured dimensions
    measured = {d["dimension"] for d in records if d["measured"]}
    assert {row["dimension"] for row in data["study"]} == measured
    for name, counts in verdict.summary.items():
        assert counts["moves"] == 0 and counts["beats_all"] == 0
        assert counts["reads"] == sum(d["readings"][name]["prompt"]["reads"] for d in records)


def test_its_positive_control_is_the_full_sweeps_to_the_bit(verdicts) -> None:  # type: ignore[no-untyped-def]
    brief, full = (load_verdict(verdicts[k][0]) for k in ("brief", "full"))
    assert [d["measured"] for d in full["dimensions"]] == [True] * len(full["dimensions"])
    for mine, theirs in zip(brief["dimensions"], full["dimensions"], strict=True):
        for name, reading in mine["readings"].items():
            assert reading["prompt"] == theirs["readings"][name]["prompt"]
    rows = {
        key: [json.loads(x) for x in (verdicts[key][0] / "verdict" / "items.jsonl").open()]
        for key in ("brief", "full")
    }
    prompts = {
        key: {
            (r["dimension"], r["instrument"], r["id"]): (r["prompt_affirm"], r["prompt_oppose"])
            for r in rows[key]
        }  # fmt: skip
        for key in rows
    }
    assert prompts["brief"] == prompts["full"]
    # and the record's persona test is recomputed from the per-item rows
    for d in brief["dimensions"]:
        for name, reading in d["readings"].items():
            key = (d["dimension"], name)
            mine = [r for r in rows["brief"] if (r["dimension"], r["instrument"]) == key]
            affirm = np.array([r["prompt_affirm"] for r in mine])
            oppose = np.array([r["prompt_oppose"] for r in mine])
            again = judging.persona(affirm, oppose, seed=OPTIONS.seed)
            assert reading["n"] == len(mine)
            assert again["p"] == pytest.approx(reading["prompt"]["p"], abs=1e-12)
            assert again["reads"] == reading["prompt"]["reads"]


def test_its_served_edit_is_the_band_within_the_budget(verdicts, lm) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = verdicts["brief"]
    data = load_verdict(run_dir)
    ladders = load_ladders(run_dir)
    cost = NeutralCost(lm, "ppl", load_neutral_texts()[: OPTIONS.neutral_texts])
    for d in (x for x in data["dimensions"] if not x["measured"]):
        ladder = ladders[d["dimension"]]
        band = len(ladder.sizes) - 1
        for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
            edit = run_edit(run_dir, d["dimension"], pole)
            want = ladder.edit(band, 1.0, sign=sign)
            assert edit.gamma == d["gammas"][pole] > 0
            assert all(edit.deltas[k].equal(want.deltas[k]) for k in want.deltas)
            # the recorded cost is the edit's, measured again one text at a time
            assert cost(edit) == pytest.approx(d["cost"][pole], abs=2e-4)
            assert d["cost"][pole] <= 1.10 + 1e-9
            control = run_edit(run_dir, d["dimension"], pole, control=True)
            assert sum(v.numel() for v in control.indices.values()) == ladder.sizes[band]
            # at the edit's gamma the control adds its own calibrated strength: matched cost
            # toward either pole (the null negated costs differently, so it has its own gamma)
            assert control.gamma == edit.gamma
            assert cost(control) == pytest.approx(d["control"]["costs"][pole], abs=2e-4)
            assert 1.10**0.95 - 1e-9 <= d["control"]["costs"][pole] <= 1.10 + 1e-9


def test_every_reader_says_what_was_not_measured(verdicts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = verdicts["brief"]
    data = load_verdict(run_dir)
    lines = verdict_lines(data)
    text = " ".join(" ".join(lines).split())  # the sentences wrap at 80 columns
    assert "nulls were not measured (--sweep-unreadable" in text
    assert max(len(line) for line in lines) <= 80 and "nan" not in text.lower()
    html = write_report(run_dir).read_text()
    assert "--sweep-unreadable measures them" in html
    folder = export_run(run_dir, tmp_path / "export")
    card = (folder / "README.md").read_text()
    assert "| conservation | forced_choice |" in card


class _Stop(Exception):
    pass


def test_an_interrupted_verdict_keeps_its_unread_dimensions(  # type: ignore[no-untyped-def]
    verdicts, lm, located_run, tmp_path
) -> None:
    """Killed in its second dimension, the default verdict keeps the first (not measured) and,
    run again, writes what an uninterrupted run wrote."""
    run_dir, _ = verdicts["brief"]
    again = tmp_path / "run"
    shutil.copytree(located_run, again)
    first = load_verdict(run_dir)["dimensions"][0]["dimension"]

    def stop_in_second(line: str) -> None:
        if not line.startswith(first):
            raise _Stop

    with pytest.raises(_Stop):
        run_verdict(again, lm=lm, options=OPTIONS, progress=stop_in_second)
    lines: list[str] = []
    run_verdict(again, lm=lm, options=OPTIONS, progress=lines.append)
    assert any(line.startswith(f"{first}: kept from an interrupted verdict") for line in lines)
    want, got = load_verdict(run_dir), load_verdict(again)
    want.pop("seconds"), got.pop("seconds")
    assert got == want
    for name in ("items.jsonl",):
        assert (again / "verdict" / name).read_text() == (run_dir / "verdict" / name).read_text()
    edits = [load_file(str(d / "verdict" / "edits.safetensors")) for d in (again, run_dir)]
    assert sorted(edits[0]) == sorted(edits[1])
    assert all(torch.equal(edits[0][k], edits[1][k]) for k in edits[1])
