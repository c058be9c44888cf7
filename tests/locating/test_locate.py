"""The locating pipeline on the real 260k-parameter Llama: artifacts, resume, bad input.

Sections mirror ``valuelocate.locating``: ``options`` and ``pipeline`` (validation, artifacts,
resume, the ``arch=`` override), ``jobs`` (prompt pairing), ``run`` (statistics against a
brute-force capture), ``summary`` (checked against the neuron sets), and the command line.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file

import valuelocate
from valuelocate.architectures import (
    ARCHITECTURES,
    ArchSpec,
    ModelShape,
    UnsupportedArchitectureError,
)
from valuelocate.artifacts import (
    ArtifactError,
    RunManifest,
    RunSummary,
    load_ladders,
    load_neuron_sets,
)
from valuelocate.data import DatasetError, load_descriptions, load_prompts, record_to_dict
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.hooks import capture_activations
from valuelocate.locating import ladder as ladder_module
from valuelocate.locating.jobs import build_jobs
from valuelocate.locating.ladder import build_ladder, item_differences
from valuelocate.locating.options import LocateOptions, parse_fractions
from valuelocate.locating.pipeline import locate
from valuelocate.locating.run import run_pole
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.stats import NeuronStats
from valuelocate.steering.ladder import differences_digest

from tiny_models import STORIES

pytestmark = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")

OPTIONS = LocateOptions(
    model=str(STORIES),
    dimensions=("conservation", "self_enhancement"),
    prompts_per_pole=5,
    max_new_tokens=6,
    batch_size=2,
    checkpoint_seconds=0.0,
    method_params={"min_required": 10, "threshold": 0.05},
)


@pytest.fixture(scope="module")
def lm():  # type: ignore[no-untyped-def]
    return load_model(str(STORIES))


@pytest.fixture(scope="module")
def finished_run(lm, tmp_path_factory):  # type: ignore[no-untyped-def]
    run_dir = tmp_path_factory.mktemp("runs") / "whole"
    return locate(OPTIONS, run_dir, lm=lm)


def test_run_writes_every_artifact(finished_run, lm) -> None:  # type: ignore[no-untyped-def]
    run_dir = finished_run.run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["model"]["num_layers"] == 5
    assert manifest["model"]["neurons_per_layer"] == 172
    assert manifest["options"]["method_params"] == {"min_required": 10, "threshold": 0.05}
    assert manifest["dataset"]["hash"]
    assert set(manifest["versions"]) >= {"torch", "transformers", "valuelocate"}
    assert "### Value:" in manifest["template"]
    for key in ("conservation.affirm", "conservation.oppose", "self_enhancement.oppose"):
        assert (run_dir / "stats" / f"{key}.safetensors").is_file()
        assert len(manifest["dataset"]["prompts"][key]) == 5
    assert not list((run_dir / "checkpoints").glob("*")), "checkpoints are removed at the end"
    sets = load_neuron_sets(run_dir, expect=ModelShape("llama", 5, 172))
    summary = RunSummary.read(run_dir)
    assert summary == finished_run.summary, "the file is what locate returned"
    for dimension, selection in sets.items():
        for neuron_set in selection:
            info = summary.dimensions[dimension][neuron_set.pole]
            assert info.count == len(neuron_set) >= 10  # min_required is kept
            assert info.per_layer == neuron_set.counts_per_layer().tolist()
            assert sum(info.per_layer) == len(neuron_set)
            assert info.percent == pytest.approx(100 * len(neuron_set) / (5 * 172))
    overlap = summary.overlap["affirm"]
    assert overlap["conservation"]["conservation"] == 1.0
    a = set(sets["conservation"].affirm.flat_index.tolist())
    b = set(sets["self_enhancement"].affirm.flat_index.tolist())
    assert overlap["conservation"]["self_enhancement"] == pytest.approx(len(a & b) / len(a | b))
    assert RunManifest.read(run_dir).to_json() == manifest, "the typed manifest reads the file"
    readable = json.loads((run_dir / "neurons.json").read_text())
    assert readable["conservation"]["affirm"]["count"] == len(sets["conservation"].affirm)


def test_both_poles_answer_the_same_questions() -> None:
    jobs = build_jobs(OPTIONS, load_prompts(split="search"), load_descriptions())
    by_key = {job.key: job for job in jobs}
    affirm, oppose = by_key["conservation.affirm"], by_key["conservation.oppose"]
    assert affirm.prompt_ids == oppose.prompt_ids
    assert all(d.startswith("desc-conservation-affirm") for d in affirm.description_ids)
    assert all(d.startswith("desc-conservation-oppose") for d in oppose.description_ids)
    again = build_jobs(OPTIONS, load_prompts(split="search"), load_descriptions())
    assert [j.texts for j in again] == [j.texts for j in jobs], "seeded, so deterministic"


def _brute_force_values(lm, job, options, arch=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Every in-scope activation of the same generation as ``run_pole``'s, kept whole:
    ``[layers, tokens, neurons]`` float64."""
    stops = stop_token_ids(lm.model, lm.tokenizer)
    rows = []
    for begin in range(0, len(job.texts), options.batch_size):
        batch = chat_inputs(lm.tokenizer, list(job.texts[begin : begin + options.batch_size]))
        with (
            torch.no_grad(),
            capture_activations(
                lm.model, scope="generated", stop_token_ids=stops, arch=arch
            ) as cap,
        ):
            lm.model.generate(
                **batch,
                max_new_tokens=options.max_new_tokens,
                do_sample=False,
                repetition_penalty=options.repetition_penalty,
                pad_token_id=lm.tokenizer.pad_token_id,
            )
        rows.append(torch.stack([cap.values(layer) for layer in cap.layers]))
    return torch.cat(rows, dim=1).double()


def test_pipeline_statistics_equal_brute_force(lm) -> None:  # type: ignore[no-untyped-def]
    job = build_jobs(OPTIONS, load_prompts(split="search"), load_descriptions())[0]
    stats = run_pole(lm, job, OPTIONS, NeuronStats(5, 172))
    values = _brute_force_values(lm, job, OPTIONS)  # [layers, tokens, neurons]
    assert values.shape[1] > 0
    assert torch.equal(stats.n, torch.full((5,), values.shape[1], dtype=stats.n.dtype))
    torch.testing.assert_close(stats.p, (values > 0).double().mean(dim=1))
    torch.testing.assert_close(stats.mean, values.mean(dim=1), rtol=1e-5, atol=1e-6)


def _state(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    files = sorted((run_dir / "stats").glob("*.safetensors")) + [run_dir / "neurons.safetensors"]
    return {f.name: load_file(str(f)) for f in files}


def test_resume_after_interruption_gives_the_same_artifacts(finished_run, lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "interrupted"
    batches = 0

    def stop_in_second_pole(job, counters):  # type: ignore[no-untyped-def]
        nonlocal batches
        if job.key == "conservation.oppose" and counters.prompts_done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        locate(OPTIONS, run_dir, lm=lm, progress=stop_in_second_pole)
    assert (run_dir / "stats" / "conservation.affirm.safetensors").is_file()
    checkpoint = run_dir / "checkpoints" / "conservation.oppose.safetensors"
    assert NeuronStats.read_metadata(checkpoint)["prompts_done"] == "2"
    assert not (run_dir / "neurons.safetensors").exists()
    with pytest.raises(ValueError, match="--resume"):
        locate(OPTIONS, run_dir, lm=lm)
    locate(OPTIONS, run_dir, lm=lm, resume=True)
    whole, resumed = _state(finished_run.run_dir), _state(run_dir)
    assert whole.keys() == resumed.keys()
    for name, tensors in whole.items():
        for key, tensor in tensors.items():
            assert torch.equal(tensor, resumed[name][key]), f"{name}:{key} differs after resume"


def test_resume_with_other_options_is_refused(finished_run, lm) -> None:  # type: ignore[no-untyped-def]
    other = LocateOptions(**{**OPTIONS.__dict__, "max_new_tokens": 7})
    with pytest.raises(ValueError, match="options differ"):
        locate(other, finished_run.run_dir, lm=lm, resume=True)


def test_corrupt_artifacts_are_clear_errors(finished_run, lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    run_dir = tmp_path / "corrupt"
    shutil.copytree(finished_run.run_dir, run_dir)
    (run_dir / "stats" / "conservation.affirm.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ArtifactError, match="conservation.affirm"):
        locate(OPTIONS, run_dir, lm=lm, resume=True)
    (run_dir / "neurons.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ArtifactError, match="corrupt"):
        load_neuron_sets(run_dir)


def test_neuron_sets_for_another_model_are_refused(finished_run) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ArtifactError, match="5 layers x 172 neurons"):
        load_neuron_sets(finished_run.run_dir, expect=ModelShape("llama", 30, 1536))


def test_bad_input_is_refused_before_anything_runs(lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="Unknown dimension 'kindness'"):
        locate(LocateOptions(dimensions=("kindness",)), tmp_path / "a", lm=lm)
    with pytest.raises(ValueError, match="Unknown selection method|delta-p"):
        locate(LocateOptions(method="delta-q"), tmp_path / "b", lm=lm)
    # An empty pole: a descriptions file without the opposing pole.
    only_affirm = tmp_path / "descriptions.jsonl"
    only_affirm.write_text(
        "\n".join(
            json.dumps(record_to_dict(d))
            for d in load_descriptions(dimension="conservation", pole="affirm")
        )
    )
    options = LocateOptions(
        **{
            **OPTIONS.__dict__,
            "descriptions_file": str(only_affirm),
            "dimensions": ("conservation",),
        }
    )
    with pytest.raises(ValueError, match="'oppose' of dimension 'conservation' is empty"):
        locate(options, tmp_path / "c", lm=lm)
    # A dataset file that fails validation: the error names file, line and field.
    broken = tmp_path / "prompts.jsonl"
    good = record_to_dict(load_prompts(split="search")[0])
    broken.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "x", "dimension": "?"}))
    options = LocateOptions(**{**OPTIONS.__dict__, "prompts_file": str(broken)})
    with pytest.raises(DatasetError, match=r"prompts.jsonl:2: dimension"):
        locate(options, tmp_path / "d", lm=lm)
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


def test_existing_run_is_never_overwritten(finished_run, lm) -> None:  # type: ignore[no-untyped-def]
    before = {p: p.read_bytes() for p in finished_run.run_dir.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="already holds files"):
        locate(OPTIONS, finished_run.run_dir, lm=lm)
    after = {p: p.read_bytes() for p in finished_run.run_dir.rglob("*") if p.is_file()}
    assert before == after


def test_cli_locate_runs_and_prints_the_summary(tmp_path) -> None:
    out = tmp_path / "cli"
    cmd = [
        sys.executable, "-m", "valuelocate", "locate", "--model", str(STORIES), "--out", str(out),
        "--dimensions", "openness_to_change", "--prompts-per-pole", "2", "--max-new-tokens", "4",
        "--param", "min_required=5",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Selected neurons" in result.stdout and "openness_to_change" in result.stdout
    assert (out / "neurons.safetensors").is_file()
    bad = subprocess.run(
        [*cmd[:7], str(tmp_path / "x"), "--dimensions", "kindness"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "Unknown dimension" in bad.stderr
    assert "Traceback" not in bad.stderr


# ---------------------------------------------------------------------- pipeline: ladders


def test_locate_writes_the_ladders_of_the_search_items(finished_run, lm) -> None:  # type: ignore[no-untyped-def]
    run_dir = finished_run.run_dir
    ladders = load_ladders(run_dir)
    assert list(ladders) == ["conservation", "self_enhancement"]
    for dimension, ladder in ladders.items():
        items = load_forced_choice(dimension=dimension, split="search")
        assert ladder.item_ids == tuple(item.id for item in items)
        # The same forward passes, so the same numbers bit for bit (site act, whatever --site):
        # the differences are not kept, their digest is.
        diffs = item_differences(lm, items, (1, 2, 3, 4))
        assert ladder.digest == differences_digest(diffs)
        again = build_ladder(diffs, dimension=dimension, layers=(1, 2, 3, 4), total_neurons=860)
        for name in ("order", "effect", "delta"):
            assert torch.equal(getattr(again, name), getattr(ladder, name)), name
        assert ladder.sizes == (1, 3, 9, 26, 86, 688) and ladder.layers == (1, 2, 3, 4)
    assert not (run_dir / "contrast").exists()
    readable = json.loads((run_dir / "neurons.json").read_text())
    points = readable["conservation"]["ladder"]["points"]
    assert [p["label"] for p in points] == ["0.1%", "0.3%", "1%", "3%", "10%", "band"]
    counts = ladders["conservation"].counts(2)
    assert points[2]["per_layer"] == {str(layer): n for layer, n in counts.items()}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert "ladder" not in manifest["options"], "the defaults are not recorded (old runs resume)"


def test_a_resume_reuses_a_finished_ladder_and_rebuilds_a_changed_one(  # type: ignore[no-untyped-def]
    finished_run, lm, tmp_path, monkeypatch
) -> None:
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run.run_dir, run_dir)
    before = load_ladders(run_dir)["conservation"]

    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a finished ladder was computed again")

    with monkeypatch.context() as patch:
        patch.setattr(ladder_module, "locate_ladders", refuse)
        locate(OPTIONS, run_dir, lm=lm, resume=True)
    assert torch.equal(load_ladders(run_dir)["conservation"].delta, before.delta)
    # Other fractions: the resume is allowed (they decide the ladder only) and rebuilds it.
    locate(dataclasses.replace(OPTIONS, ladder_fractions=(0.01,)), run_dir, lm=lm, resume=True)
    changed = load_ladders(run_dir)["conservation"]
    assert changed.sizes == (9, 688) and torch.equal(changed.order, before.order)
    assert RunManifest.read(run_dir).options["ladder_fractions"] == [0.01]
    # Without a ladder, then resumed with the defaults (as a run from before ladders is).
    locate(dataclasses.replace(OPTIONS, ladder=False), run_dir, lm=lm, resume=True)
    with pytest.raises(ArtifactError, match="holds no sparsity ladder"):
        load_ladders(run_dir)
    assert load_neuron_sets(run_dir)["conservation"].affirm.method == "delta-p"
    locate(OPTIONS, run_dir, lm=lm, resume=True)
    assert torch.equal(load_ladders(run_dir)["conservation"].effect, before.effect)


def test_ladder_options_are_checked() -> None:
    assert parse_fractions("0.001, 0.01") == (0.001, 0.01) and parse_fractions("") == ()
    with pytest.raises(ValueError, match="--ladder-fractions takes"):
        parse_fractions("1%")
    for bad in ((0.1, 0.01), (0.0,), (0.5, 1.0), (0.1, 0.1)):
        with pytest.raises(ValueError, match="--ladder-fractions must"):
            dataclasses.replace(OPTIONS, ladder_fractions=bad).validate()
    view = dataclasses.replace(OPTIONS, ladder=False).manifest_view()
    assert view["ladder"] is False and view["ladder_fractions"] == [0.001, 0.003, 0.01, 0.03, 0.1]


# ---------------------------------------------------------------------- pipeline: arch=


def test_locating_is_a_module_and_locate_a_function() -> None:
    import valuelocate.locating as module

    assert module.__name__ == "valuelocate.locating" and module.locate is valuelocate.locate
    assert callable(valuelocate.locate) and not hasattr(valuelocate.locate, "__path__")


def test_arch_override_locates_a_family_outside_the_table(lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    config = transformers.BloomConfig(
        vocab_size=len(lm.tokenizer), hidden_size=32, n_layer=2, n_head=4, bos_token_id=1,
        eos_token_id=2, pad_token_id=lm.tokenizer.pad_token_id,
    )  # fmt: skip
    tiny = LoadedModel(
        model=transformers.BloomForCausalLM(config).eval(),
        tokenizer=lm.tokenizer,
        model_id="tiny-bloom",
        source="built in the test",
        revision=None,
        config_hash="tiny-bloom",
    )
    spec = ArchSpec(
        layers="transformer.h", act="mlp.gelu_impl", down="mlp.dense_4h_to_h", gated=False
    )
    table = dict(ARCHITECTURES)
    options = LocateOptions(
        **{**OPTIONS.__dict__, "model": "tiny-bloom", "dimensions": ("conservation",)}
    )
    with pytest.raises(UnsupportedArchitectureError, match="'bloom'"):
        locate(options, tmp_path / "without", lm=tiny)
    assert not (tmp_path / "without").exists(), "refused before anything was written"

    result = locate(options, tmp_path / "with", lm=tiny, arch=spec)
    assert dict(ARCHITECTURES) == table and "bloom" not in ARCHITECTURES
    assert result.shape == ModelShape("bloom", 2, 128)
    manifest = RunManifest.read(result.run_dir)
    assert manifest.status == "complete" and manifest.model.family == "bloom"
    assert manifest.arch == dataclasses.asdict(spec)
    sets = load_neuron_sets(result.run_dir, expect=result.shape)
    assert len(sets["conservation"].affirm) >= 10  # min_required=10
    ladder = load_ladders(result.run_dir)["conservation"]  # read through the override too
    assert ladder.layers == (1,) and ladder.sizes == (1, 3, 8, 26, 128)
    # The statistics are the override's neurons: equal to a brute-force capture with it.
    job = build_jobs(options, load_prompts(split="search"), load_descriptions())[0]
    values = _brute_force_values(tiny, job, options, arch=spec)
    assert values.shape[1] > 0 and values.shape[2] == 128
    stats = result.stats["conservation.affirm"]
    torch.testing.assert_close(stats.p, (values > 0).double().mean(dim=1))
    torch.testing.assert_close(stats.mean, values.mean(dim=1), rtol=1e-5, atol=1e-6)
    other = dataclasses.replace(spec, gated=True)
    with pytest.raises(ValueError, match="arch differ"):
        locate(options, result.run_dir, lm=tiny, resume=True, arch=other)
    again = locate(options, result.run_dir, lm=tiny, resume=True, arch=spec)
    assert torch.equal(
        again.selections["conservation"].affirm.index, sets["conservation"].affirm.index
    )


def test_without_kept_statistics_the_run_is_the_same(finished_run, lm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``keep_stats=False`` (the main job's memory saving) returns no statistics, and the same
    neuron sets and files as a run that kept them."""
    run_dir = tmp_path / "lean"
    result = locate(OPTIONS, run_dir, lm=lm, keep_stats=False)
    assert result.stats == {} and len(finished_run.stats) == 2 * len(OPTIONS.dimensions)
    assert list(result.selections) == list(finished_run.selections)
    kept, lean = _state(finished_run.run_dir), _state(run_dir)
    assert kept.keys() == lean.keys()
    for name, tensors in kept.items():
        for key, tensor in tensors.items():
            assert torch.equal(tensor, lean[name][key]), f"{name}:{key} differs"
