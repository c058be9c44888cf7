"""llama.cpp control vectors: the GGUF file as llama.cpp's loader reads it, and
`valuelocate export RUN_DIR OUT --gguf` on runs of the real 260k-parameter Llama (stories260k)
whose verdict edits at ``down_in`` (exact) or at ``act`` (only with --approximate, measured);
bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from quick_verdict import quick_verdict
from valuelocate.artifacts import RunManifest
from valuelocate.artifacts.records import DatasetRecord, ModelRecord
from valuelocate.artifacts.verdict import run_edit
from valuelocate.cli import main
from valuelocate.hooks import edit_neurons
from valuelocate.llamacpp.agreement import change_agreement
from valuelocate.llamacpp.controlvector import read_control_vector, write_control_vector
from valuelocate.llamacpp.export import export_control_vectors
from valuelocate.llamacpp.fold import FoldRefused
from valuelocate.models import LoadedModel
from valuelocate.steering.residual import LayerVectors

from tiny_models import STORIES

DIMENSION = "conservation"


def test_the_file_is_what_llama_cpp_reads(tmp_path: Path) -> None:
    path = tmp_path / "v.gguf"
    vectors = {3: np.arange(8, dtype=np.float32), 1: -np.ones(8, dtype=np.float64)}
    write_control_vector(
        path, vectors, model_hint="llama", metadata={"valuelocate.gamma": 2.5, "x.flag": True}
    )
    reader = gguf.GGUFReader(str(path))
    fields = {name: f for name, f in reader.fields.items()}
    arch = fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "controlvector"
    hint = fields["controlvector.model_hint"]
    assert bytes(hint.parts[hint.data[0]]).decode() == "llama"
    count = fields["controlvector.layer_count"]
    assert count.types == [gguf.GGUFValueType.INT32]
    assert int(count.parts[count.data[0]][0]) == 2
    tensors = {t.name: t for t in reader.tensors}
    assert sorted(tensors) == ["direction.1", "direction.3"]
    for name, layer in (("direction.1", 1), ("direction.3", 3)):
        tensor = tensors[name]
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
        assert list(tensor.shape) == [8]  # 1-D: ggml_n_dims == 1
        np.testing.assert_array_equal(tensor.data, np.asarray(vectors[layer], np.float32))
    back = read_control_vector(path)
    assert back.model_hint == "llama" and back.layer_count == 2
    assert back.metadata["valuelocate.gamma"] == pytest.approx(2.5)
    assert back.metadata["x.flag"] is True
    assert sorted(back.directions) == [1, 3]


def test_direction_0_and_mixed_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="direction.0"):
        write_control_vector(tmp_path / "a.gguf", {0: np.ones(4)}, model_hint="llama")
    with pytest.raises(ValueError, match="hidden size"):
        write_control_vector(tmp_path / "b.gguf", {1: np.ones(4), 2: np.ones(5)}, model_hint="x")


def test_change_agreement_of_identical_changes_is_perfect() -> None:
    base = torch.log_softmax(torch.randn(3, 50, dtype=torch.float64), -1)
    edited = torch.log_softmax(torch.randn(3, 50, dtype=torch.float64), -1)
    same = change_agreement(base, edited, edited)
    assert same["max_abs_gap"] == 0.0 and same["top1"] == 1.0
    assert same["correlation"] == pytest.approx(1.0) and same["kl"] == pytest.approx(0.0)


# ------------------------------------------------------------------ runs on stories260k


def _manifest(lm: LoadedModel, family: str = "llama") -> RunManifest:
    return RunManifest(
        status="complete",
        model=ModelRecord(
            id=str(STORIES), source=str(STORIES), revision=None, config_hash=lm.config_hash,
            family=family, num_layers=5, neurons_per_layer=172,
        ),
        dataset=DatasetRecord(hash="test", prompts={}, descriptions={}),
        template="", chat_template=True, options={}, seed=0, versions={}, command="test",
    )  # fmt: skip


def _run(lm: LoadedModel, root: Path, site: str) -> Path:
    run = root / f"run-{site}"
    run.mkdir(parents=True)
    quick_verdict(lm, run, DIMENSION, site=site)
    _manifest(lm).write(run / "manifest.json")
    return run


@pytest.fixture(scope="module")
def runs(stories_lm: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cv-runs")
    return {site: _run(stories_lm, root, site) for site in ("down_in", "act")}


def test_exact_export_reproduces_the_verdict_edit(
    stories_lm: LoadedModel, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = runs["down_in"]
    began = time.monotonic()
    out = export_control_vectors(run, tmp_path / "cv", lm=stories_lm)
    seconds = time.monotonic() - began
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "conservation.affirm.gguf", "conservation.oppose.gguf", "export.json",
    ]  # fmt: skip
    verdict = json.loads((run / "verdict" / "verdict.json").read_text())
    gammas = {r["pole"]: r["gamma"] for r in verdict["rows"]}
    ids = torch.tensor([stories_lm.tokenizer("Once upon a time, Lily saw a big dog.")["input_ids"]])
    model = stories_lm.model
    for pole in ("affirm", "oppose"):
        path = out / f"{DIMENSION}.{pole}.gguf"
        assert path.stat().st_size < 1_000_000
        cv = read_control_vector(path)
        assert cv.model_hint == "llama"
        assert sorted(cv.directions) == [1, 2, 3, 4] and cv.layer_count == 4
        assert all(v.shape == (64,) for v in cv.directions.values())
        meta = cv.metadata
        assert meta["valuelocate.exact"] is True and meta["valuelocate.site"] == "down_in"
        assert meta["valuelocate.dimension"] == DIMENSION and meta["valuelocate.pole"] == pole
        assert meta["valuelocate.gamma"] == pytest.approx(gammas[pole], rel=1e-6)
        assert meta["valuelocate.config_hash"] == stories_lm.config_hash
        assert not any(k.startswith("valuelocate.agreement") for k in meta)
        # llama.cpp adds direction.N to the output of layer N: so does LayerVectors.
        edit = run_edit(run, DIMENSION, pole)
        assert edit.site == "down_in"
        with torch.no_grad():
            base = model(input_ids=ids).logits
            with edit_neurons(model, edit, scope="all"):
                exact = model(input_ids=ids).logits
            vectors = {n: torch.from_numpy(v) for n, v in cv.directions.items()}
            with LayerVectors(vectors).apply(model):
                folded = model(input_ids=ids).logits
        assert (exact - base).abs().max() > 1e-2
        torch.testing.assert_close(folded, exact, rtol=1e-5, atol=1e-5)
    card = (out / "README.md").read_text()
    assert "| conservation | affirm | `conservation.affirm.gguf`" in card and "exact" in card
    record = json.loads((out / "export.json").read_text())
    assert record["model_hint"] == "llama" and len(record["directions"]) == 2
    assert seconds < 5.0, f"the export took {seconds:.1f} s"


def test_act_export_needs_approximate_and_then_measures_it(
    stories_lm: LoadedModel, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = runs["act"]
    with pytest.raises(FoldRefused, match="--approximate"):
        export_control_vectors(run, tmp_path / "refused", lm=stories_lm)
    assert not (tmp_path / "refused").exists()
    out = export_control_vectors(run, tmp_path / "cv", lm=stories_lm, approximate=True)
    for pole in ("affirm", "oppose"):
        meta = read_control_vector(out / f"{DIMENSION}.{pole}.gguf").metadata
        assert meta["valuelocate.exact"] is False and meta["valuelocate.site"] == "act"
        for key in ("mean_abs_gap", "max_abs_gap", "correlation", "top1", "kl",
                    "fc_shift_exact", "fc_shift_folded", "fc_sign_agreement"):  # fmt: skip
            assert np.isfinite(meta[f"valuelocate.agreement.{key}"]), key
        assert meta["valuelocate.agreement.items"] == 8
    card = (out / "README.md").read_text()
    assert "Agreement of the approximate fold" in card and "approximate" in card


# ------------------------------------------------------------------ bad input


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "argv", ["valuelocate", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("no verdict", "has no verdict"),
        ("rule dynamic", "dynamic rule is not a constant addition"),
        ("rule scale", "scale multiplies activations"),
        ("rule ablate", "ablate sets activations to 0"),
        ("family gemma2", "Gemma 2 normalises each MLP's output"),
        ("family without a GGUF", "has no llama.cpp (GGUF) architecture"),
        ("act without --approximate", "pass --approximate"),
        ("existing output", "already exists and is not empty"),
        ("another model", "The run was located on another model"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    case: str,
    expect: str,
    stories_lm: LoadedModel,
    runs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    source = runs["act"] if case == "act without --approximate" else runs["down_in"]
    run.mkdir()
    for path in source.rglob("*"):
        if path.is_file():
            target = run / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    out = tmp_path / "out"
    args = ["export", str(run), str(out), "--gguf"]
    if case == "no verdict":
        for path in (run / "verdict").iterdir():
            path.unlink()
        (run / "verdict").rmdir()
    elif case.startswith("rule "):
        args += ["--rule", case.removeprefix("rule ")]
    elif case.startswith("family "):
        family = "gemma2" if case == "family gemma2" else "mamba"
        _manifest(stories_lm, family).write(run / "manifest.json")
    elif case == "another model":  # the run's records name a model that is not stories260k
        manifest = _manifest(stories_lm)
        manifest.model = ModelRecord(**{**vars(manifest.model), "config_hash": "0" * 64})
        manifest.write(run / "manifest.json")
    elif case == "existing output":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    before = _hashes(tmp_path)
    code, err = _cli(args, monkeypatch, capsys)
    assert code == 2
    # (transformers' progress bar of a model load is not ours: left out, as tests/test_bad_input.py)
    lines = [x for x in err.splitlines() if x.strip() and "Loading weights" not in x]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expect in lines[0], lines[0]
    assert "Traceback" not in err
    assert _hashes(tmp_path) == before  # nothing written, nothing changed
    assert case == "existing output" or not out.exists()


# ------------------------------------------------------------------ the verification's arithmetic


class _TorchRuntime:
    """ValueLocate's own model in llama.cpp's place (LlamaCpp's four methods): then the
    unsteered gap is 0 and an exact file's change is ours to float tolerance."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        self.vectors: LayerVectors | None = None

    def set_control_vector(self, directions, *, strength: float = 1.0) -> None:  # type: ignore[no-untyped-def]
        self.vectors = (
            None
            if directions is None
            else LayerVectors({n: torch.from_numpy(v) for n, v in directions.items()}, strength)
        )

    def next_token_logprobs(self, prompts):  # type: ignore[no-untyped-def]
        from valuelocate.llamacpp.agreement import next_token_logprobs

        return next_token_logprobs(self.lm, prompts, self.vectors)

    def answer_logprob(self, context, answer) -> float:  # type: ignore[no-untyped-def]
        from valuelocate.steering.intervention import applied

        ids = torch.tensor([[*context, *answer]])
        with torch.no_grad(), applied(self.lm.model, self.vectors):
            logp = torch.log_softmax(self.lm.model(input_ids=ids).logits[0].double(), -1)
        picked = logp[len(context) - 1 : -1].gather(-1, torch.tensor(answer)[:, None])
        return float(picked.mean())

    def greedy(self, prompt, n=16, stop=()):  # type: ignore[no-untyped-def]
        from valuelocate.steering.intervention import applied

        ids = list(prompt)
        out: list[int] = []
        with torch.no_grad(), applied(self.lm.model, self.vectors):
            for _ in range(n):
                token = int(self.lm.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
                out.append(token)
                if token in stop:
                    break
                ids.append(token)
        return out


def test_verification_of_an_exact_file_against_our_own_model(
    stories_lm: LoadedModel, runs: dict[str, Path], tmp_path: Path
) -> None:
    from valuelocate.data.forced_choice import load_forced_choice
    from valuelocate.llamacpp.verify import verify_export

    run = runs["down_in"]
    out = export_control_vectors(run, tmp_path / "cv", lm=stories_lm)
    names = [f"{DIMENSION}.{p}" for p in ("affirm", "oppose")]
    items = sorted(load_forced_choice(dimension=DIMENSION, split="dev"), key=lambda i: i.id)
    result = verify_export(
        stories_lm, "unused.gguf", {n: out / f"{n}.gguf" for n in names},
        {n: run_edit(run, DIMENSION, n.split(".")[1]) for n in names}, items,
        prompts=4, fc_items=6, runtime=_TorchRuntime(stories_lm),
    )  # fmt: skip
    assert result.tolerance < 1e-6 and result.greedy_same_unsteered == 1.0
    assert [c.direction for c in result.directions] == names
    for check in result.directions:
        assert check.change_gap_max < 1e-4 and check.change_size > 1e-3
        assert check.fc_shift_ours == pytest.approx(check.fc_shift_cpp, abs=1e-4)
        assert check.fc_same_sign and check.greedy_same == 1.0
