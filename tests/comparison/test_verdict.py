"""The main job's verdict on the real 260k-parameter Llama: the located ladder is what it
edits, every figure is recomputable from its per-item file, ``run_edit`` returns exactly the
set and vector it read, and the statistics are the ones fixed in advance."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import serve_fixtures as fx
from valuelocate import run_edit
from valuelocate.artifacts import ArtifactError
from valuelocate.artifacts.ladders import load_ladders
from valuelocate.artifacts.verdict import load_verdict
from valuelocate.comparison.cost import BiasCost
from valuelocate.comparison.dimension import dimension_items, ladder_differences
from valuelocate.comparison.forced_choice import likelihood_reading
from valuelocate.comparison.options import default_band
from valuelocate.comparison.progress import PARTS, STUDY
from valuelocate.comparison.verdict import RULE, VerdictOptions, run_verdict
from valuelocate.comparison.word_control import strengths, word_bias
from valuelocate.data.decision_pairs import load_decision_pairs
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.evaluation.statistics import holm
from valuelocate.reporting import write_report
from valuelocate.steering.budget import NeutralCost
from valuelocate.steering.mean_diff import MeanDiffEdit

lm, located_run = fx.lm, fx.run_dir  # the shared stories260k model and its located run

pytestmark = fx.needs_stories

# The tiny model reads no value on any instrument (its persona prompts separate nothing), so
# the full sweep is asked for: the tests below check what it measures. A verdict with the
# default (such a dimension not judged) is tests/comparison/test_unreadable.py's.
OPTIONS = VerdictOptions(
    verdict_items=4, neutral_texts=2, steps=1, start_gamma=1.0, random_sets=3, shuffles=20,
    agreement_items=2, sweep_unreadable=True,
)  # fmt: skip


SHARES: list[float] = []  # what the fixture's verdict told its progress bar


@pytest.fixture(scope="module")
def judged(lm, located_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    run_dir = tmp_path_factory.mktemp("verdict") / "run"
    shutil.copytree(located_run, run_dir)
    verdict = run_verdict(run_dir, lm=lm, options=OPTIONS, fraction=SHARES.append)
    return run_dir, verdict


def test_the_progress_share_rises_to_one(judged) -> None:  # type: ignore[no-untyped-def]
    dimensions = len(load_verdict(judged[0])["dimensions"])
    assert sorted(SHARES) == SHARES and SHARES[-1] == pytest.approx(1.0)
    # reads, calibration passes, judged instruments and each dimension's end all report
    assert len(SHARES) > 5 * dimensions and 0 < SHARES[0] < 1 / dimensions
    # the first dimension's first judged instrument (of two): half its judging share
    half = (PARTS["reads"] + PARTS["calibration"] + PARTS["judging"] / 2) / (dimensions + STUDY)
    assert any(share == pytest.approx(half) for share in SHARES)


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in verdict.json")

    return json.loads(text, parse_constant=refuse)


def test_the_default_band_is_the_middle_of_the_model() -> None:
    assert default_band(30) == (8, 22)  # the embedded model: layers 8-22
    assert default_band(5) == (1, 4)
    assert default_band(1) == (0, 0)


def test_every_dimension_and_instrument_is_judged(judged) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = judged
    data = _strict((run_dir / "verdict" / "verdict.json").read_text())
    assert isinstance(data, dict) and data["version"] == 2 and data["rule"] == RULE
    ladders = load_ladders(run_dir)
    assert [d["dimension"] for d in data["dimensions"]] == ["conservation", "self_enhancement"]
    for d in data["dimensions"]:
        ladder = ladders[d["dimension"]]
        assert len(d["curve"]) == len(ladder.sizes)
        assert [row["neurons"] for row in d["curve"]] == list(ladder.sizes)
        point = d["default"]["point"]
        assert d["default"]["neurons"] == ladder.sizes[point]
        # the dev rule, recomputed from the curve: the sparsest accepted point, else the band
        accepted = [i for i, row in enumerate(d["curve"]) if row["dev"]["accepted"]]
        assert point == (accepted[0] if accepted else len(ladder.sizes) - 1)
        assert d["default"]["accepted"] == bool(accepted)
        fc, dp = d["readings"]["forced_choice"], d["readings"]["decision_pairs"]
        assert fc["n"] == 4 and dp["n"] == len(
            load_decision_pairs(dimension=d["dimension"], split="test")
        )
        assert fc["random_sets"]["count"] == 3 and fc["shuffles"]["count"] == 20
        assert set(d["agreement"]) >= {"edit", "random_set", "shuffle", "items"}
        # the label shuffles re-ranked the located differences, recomputed to the bit
        assert d["differences_match"] is True
        # every control's own cost is recorded beside the edit's
        assert set(d["cost"]) == {"affirm", "oppose"}
        for record in (fc, dp):
            assert set(record["word_priming"]["cost"]) == {"affirm", "oppose"}
            assert all(c <= 1.10 + 1e-9 for c in record["word_priming"]["cost"].values())
            assert len(record["random_sets"]["costs"]) == 3
            assert 1 <= len(record["shuffles"]["cost_sample"]) <= 8
    for name in ("forced_choice", "decision_pairs"):
        records = [d["readings"][name] for d in data["dimensions"]]
        for test in ("moves", "random_sets", "shuffles", "word_priming"):
            raw = [r[test]["p"] if r[test]["p"] is not None else 1.0 for r in records]
            assert [r[test]["p_holm"] for r in records] == pytest.approx(holm(raw))
        for r in records:
            expected = r["prompt"]["reads"] and all(
                r[t]["p_holm"] < data["alpha"]
                for t in ("moves", "random_sets", "shuffles", "word_priming")
            )
            assert r["beats_all"] == expected
    assert verdict.summary["forced_choice"]["of"] == 2


def test_the_per_item_file_recomputes_the_summaries(judged) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = judged
    rows = [
        json.loads(line) for line in (run_dir / "verdict" / "items.jsonl").read_text().splitlines()
    ]
    data = load_verdict(run_dir)
    for d in data["dimensions"]:
        for name, record in d["readings"].items():
            mine = [r for r in rows if r["dimension"] == d["dimension"] and r["instrument"] == name]
            assert len(mine) == record["n"]
            gap = np.array([r["edit_affirm"] - r["edit_oppose"] for r in mine])
            words = np.array([r["word_affirm"] - r["word_oppose"] for r in mine])
            prompt = np.array([r["prompt_affirm"] - r["prompt_oppose"] for r in mine])
            assert record["edit"]["gap"]["mean"] == pytest.approx(gap.mean(), abs=1e-9)
            assert record["word_priming"]["gap"]["mean"] == pytest.approx(words.mean(), abs=1e-9)
            assert record["prompt"]["gap"]["mean"] == pytest.approx(prompt.mean(), abs=1e-9)
            assert record["linear"]["exact_gap"] == pytest.approx(gap.mean(), abs=1e-9)


def test_run_edit_returns_exactly_the_set_and_vector_the_verdict_read(judged, lm) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = judged
    data = load_verdict(run_dir)
    ladder = load_ladders(run_dir)["conservation"]
    d = next(x for x in data["dimensions"] if x["dimension"] == "conservation")
    point = d["default"]["point"]
    items = sorted(load_forced_choice(dimension="conservation", split="test"), key=lambda i: i.id)[
        :4
    ]
    rows = [
        json.loads(line) for line in (run_dir / "verdict" / "items.jsonl").read_text().splitlines()
    ]
    mine = {
        r["id"]: r
        for r in rows
        if r["dimension"] == "conservation" and r["instrument"] == "forced_choice"
    }
    for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
        edit = run_edit(run_dir, "conservation", pole)
        assert isinstance(edit, MeanDiffEdit) and edit.gamma == d["gammas"][pole]
        expected = ladder.neurons(point)
        assert sorted(edit.indices) == sorted(expected)
        for layer, index in expected.items():
            assert edit.indices[layer].tolist() == index.tolist()
        want = ladder.edit(point, 1.0, sign=sign)
        for layer in want.deltas:
            assert edit.deltas[layer].equal(want.deltas[layer])
        reading = likelihood_reading(lm, items, edit=edit).numpy()
        assert reading == pytest.approx([mine[i.id][f"edit_{pole}"] for i in items], abs=1e-9)
        control = run_edit(run_dir, "conservation", pole, control=True)
        assert sum(v.numel() for v in control.indices.values()) == ladder.sizes[point]
        # served at matched cost toward either pole: the null negated has a gamma of its own
        assert control.gamma == edit.gamma
        measured = NeutralCost(lm, "ppl", load_neutral_texts()[: OPTIONS.neutral_texts])(control)
        assert measured == pytest.approx(d["control"]["costs"][pole], abs=2e-4)
        assert 1.10**0.95 - 1e-9 <= d["control"]["costs"][pole] <= 1.10 + 1e-9
    # toward the affirming pole it is the first random null, as the verdict calibrated it
    assert (
        d["control"]["costs"]["affirm"] == d["readings"]["forced_choice"]["random_sets"]["costs"][0]
    )
    assert run_edit(run_dir, "conservation", "oppose", gamma=0.5).gamma == 0.5


def test_run_edit_errors_name_what_is_missing(judged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = judged
    with pytest.raises(ValueError, match="openness_to_change.affirm"):
        run_edit(run_dir, "openness_to_change", "affirm")
    with pytest.raises(ValueError, match="pole"):
        run_edit(run_dir, "conservation", "up")
    with pytest.raises(ArtifactError, match="verdict.json"):
        run_edit(tmp_path, "conservation", "affirm")


def test_the_report_opens_with_the_verdict(judged) -> None:  # type: ignore[no-untyped-def]
    run_dir, verdict = judged
    html = write_report(run_dir).read_text()
    assert html.index('id="verdict"') < html.index('id="sparsity"')
    assert re.search(r"[>\s(]nan[<\s)]", html, flags=re.IGNORECASE) is None


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("budget", "ppl=0.5", "--budget"),
        ("verdict_items", 1, "--verdict-items"),
        ("random_sets", 1, "--random-sets"),
        ("shuffles", 5, "--shuffles"),
    ],
)
def test_bad_options_name_their_flag(field: str, value: object, flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        VerdictOptions(**{field: value}).validate()  # type: ignore[arg-type]


def test_serve_steers_with_the_verdicts_edit_by_default(judged, lm) -> None:  # type: ignore[no-untyped-def]
    """A run with a verdict serves its default steering (rule ``mean-diff``, size 1 = the
    calibrated gamma, every position), and its control as ``mean-diff-control``."""
    import openai

    from valuelocate import generation
    from valuelocate.serve import build_server, running_server

    run_dir, _ = judged
    config = generation.GenerationConfig(
        max_new_tokens=12, repetition_penalty=1.0, batch_size=1, scope="all"
    )
    prompt = "Once upon a time"
    parts = build_server(lm, run_dir, name="stories")
    assert parts.engine.catalog.default_rule == "mean-diff"
    with running_server(parts) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)

        def chat(values: dict, **extra: object) -> str:
            reply = client.chat.completions.create(
                model="stories", messages=[{"role": "user", "content": prompt}], max_tokens=12,
                temperature=0, extra_body={"values": values, **extra},
            )  # fmt: skip
            return (reply.choices[0].message.content or "").strip()

        for values, pole, control, size in (
            ({"conservation": -2.0}, "oppose", False, 2.0),
            ({"conservation": 3.0}, "affirm", False, 3.0),
            ({"conservation": 3.0}, "affirm", True, 3.0),
        ):
            gamma = run_edit(run_dir, "conservation", pole).gamma * size
            edit = run_edit(run_dir, "conservation", pole, gamma=gamma, control=control)
            (expected,) = generation.generate_answers(lm, [prompt], config=config, edit=edit)
            rule = {"rule": "mean-diff-control"} if control else {}
            assert chat(values, **rule) == expected
        with pytest.raises(openai.BadRequestError, match="mean-diff-control"):
            chat({"conservation": 1.0}, rule="mean-difference")  # the error lists the rules


def test_serve_without_a_verdict_refuses_its_rules_by_name(lm, located_run) -> None:  # type: ignore[no-untyped-def]
    from valuelocate.serve.server import build_catalog
    from valuelocate.serve.steering import SteeringError

    catalog = build_catalog(lm, located_run, name="stories", max_gamma=4.0, alias_gamma=1.0)
    assert catalog.default_rule == "dynamic" and catalog.rules() == ["dynamic", "random_control"]
    with pytest.raises(SteeringError, match="no verdict") as error:
        catalog.steering("stories", {"conservation": 1.0}, "mean-diff", None, None)
    assert error.value.param == "rule"


def test_export_carries_the_verdict_to_the_card_run_edit_and_serve(judged, lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import ModelCard

    from valuelocate.artifacts.export import export_run
    from valuelocate.serve.server import build_catalog

    run_dir, verdict = judged
    folder = export_run(run_dir, tmp_path / "export")
    assert (folder / "verdict" / "edits.safetensors").is_file()
    card = ModelCard.load(folder / "README.md")
    assert "### Forced choice" in card.text
    table = [line for line in card.text.splitlines() if line.startswith("| conservation | ")]
    instruments = [line.split(" | ")[1] for line in table]
    assert {"forced_choice", "decision_pairs"} <= set(instruments)
    for pole in ("affirm", "oppose"):
        for control in (False, True):
            here = run_edit(folder, "conservation", pole, control=control)
            there = run_edit(run_dir, "conservation", pole, control=control)
            assert here.gamma == there.gamma
            assert all(here.deltas[k].equal(there.deltas[k]) for k in there.deltas)
    catalog = build_catalog(lm, folder, name="stories", max_gamma=4.0, alias_gamma=1.0)
    assert catalog.default_rule == "mean-diff"


class _Stop(Exception):
    pass


def test_an_interrupted_verdict_resumes_to_the_same_files(
    judged, lm, located_run, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Killed after its first dimension, a verdict keeps that dimension and, run again, ends
    with the files an uninterrupted run wrote (the time it took aside)."""
    run_dir, _ = judged
    again = tmp_path / "run"
    shutil.copytree(located_run, again)
    first = load_verdict(run_dir)["dimensions"][0]["dimension"]

    def stop_in_second(line: str) -> None:
        if not line.startswith(first):
            raise _Stop  # killed as the second dimension begins

    with pytest.raises(_Stop):
        run_verdict(again, lm=lm, options=OPTIONS, progress=stop_in_second)
    partial = again / "verdict" / "partial"
    assert sorted(p.name for p in partial.iterdir()) == [f"{first}.json", f"{first}.safetensors"]
    assert not (again / "verdict" / "verdict.json").exists()
    lines: list[str] = []
    run_verdict(again, lm=lm, options=OPTIONS, progress=lines.append)
    assert any(line.startswith(f"{first}: kept from an interrupted verdict") for line in lines)
    assert not partial.exists()  # removed once the verdict is written
    want, got = load_verdict(run_dir), load_verdict(again)
    assert _differences(got, want) == []
    assert (again / "verdict" / "items.jsonl").read_text() == (
        run_dir / "verdict" / "items.jsonl"
    ).read_text()
    # the same tensors and metadata (the header's metadata order is not fixed across writes)
    for_each = [safe_open(str(d / "verdict" / "edits.safetensors"), "pt") for d in (again, run_dir)]
    assert for_each[0].metadata() == for_each[1].metadata()
    assert sorted(for_each[0].keys()) == sorted(for_each[1].keys())
    for key in for_each[0].keys():  # noqa: SIM118 (a safetensors handle, not a dict)
        assert torch.equal(for_each[0].get_tensor(key), for_each[1].get_tensor(key)), key


def _differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two JSON values differ (paths), wall times (``seconds``) aside."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only one side" for k in set(a) ^ set(b)]
        for k in (set(a) & set(b)) - {"seconds"}:
            out += _differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _differences(x, y, f"{path}/{i}")]  # fmt: skip
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_a_dimensions_items_are_the_first_test_items_by_id() -> None:
    items = dimension_items("conservation", replace(OPTIONS, choice_reading=True))
    test = sorted(load_forced_choice(dimension="conservation", split="test"), key=lambda i: i.id)
    assert [i.id for i in items["forced_choice"]] == [i.id for i in test[:4]]
    assert items["choice"] is items["forced_choice"]  # the A/B reading of the same items
    dev = load_forced_choice(dimension="conservation", split="dev")
    assert [i.id for i in items["dev"]] == sorted(i.id for i in dev)
    pairs = load_decision_pairs(dimension="conservation", split="test")
    assert [i.id for i in items["decision_pairs"]] == sorted(i.id for i in pairs)
    assert "choice" not in dimension_items("conservation", OPTIONS)


def test_the_word_priming_control_meets_the_budget_toward_each_pole(lm) -> None:  # type: ignore[no-untyped-def]
    search = load_forced_choice(dimension="conservation", split="search")
    bias = word_bias(lm, search, True)
    assert bias.shape == (lm.model.get_output_embeddings().weight.shape[0],)
    assert bool(bias.abs().sum() > 0)
    cost = BiasCost(lm, load_neutral_texts()[:2])
    found = strengths(cost, bias, 1.10, steps=1)
    for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
        strength, measured = found[pole]
        assert strength > 0 and measured <= 1.10 + 1e-9
        assert cost(sign * strength * bias) == pytest.approx(measured, abs=1e-12)


def test_the_ladders_differences_are_recomputed_and_checked(lm, located_run) -> None:  # type: ignore[no-untyped-def]
    ladder = load_ladders(located_run)["conservation"]
    search = load_forced_choice(dimension="conservation", split="search")
    diffs, same = ladder_differences(lm, ladder, search, True)
    assert same is True and diffs.shape == (ladder.items, len(ladder.layers), 172)
    # the ranking they give is the located one
    mean = diffs.double().reshape(ladder.items, -1).mean(0)
    assert torch.equal(mean, ladder.delta)
    assert ladder_differences(lm, replace(ladder, digest="0" * 64), search, True)[1] is False
    assert ladder_differences(lm, replace(ladder, digest=""), search, True)[1] is None
    with pytest.raises(ArtifactError, match="ranked on other search items"):
        ladder_differences(lm, ladder, search[::-1], True)
