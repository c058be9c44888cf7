"""The ladders on disk: a bit-exact round trip inside ``neurons.safetensors`` (whose neuron sets
still load) with the items' ids and the differences' digest, the readable view, and errors that
name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from valuelocate.architectures import ModelShape
from valuelocate.artifacts import ArtifactError, load_neuron_sets, save_neuron_sets
from valuelocate.artifacts.ladders import load_ladders, save_ladders
from valuelocate.selection.methods import DeltaP
from valuelocate.stats.accumulator import NeuronStats
from valuelocate.steering.ladder import Ladder, build_ladder, differences_digest

SHAPE = ModelShape("llama", 5, 4)  # 20 neurons; the band is layers 1-3 (12 neurons)
LAYERS = (1, 2, 3)
IDS = ["fc-con-001", "fc-con-002", "fc-con-003", "fc-con-004"]


def _diffs(seed: int) -> torch.Tensor:
    return torch.randn(4, 3, 4, generator=torch.Generator().manual_seed(seed))


def _run(tmp_path: Path) -> Path:
    """A run directory with neuron sets, no ladder yet."""
    stats = []
    for seed in (1, 2):
        s = NeuronStats(5, 4)
        values = torch.randn(6, 5, 4, generator=torch.Generator().manual_seed(seed))
        for layer in range(5):
            s.add(layer, values[None, :, layer])  # [batch 1, 6 tokens, 4 neurons]
        s.end_batch()
        stats.append(s)
    selections = {"conservation": DeltaP(min_required=2)(*stats)}
    save_neuron_sets(tmp_path / "neurons.safetensors", selections, SHAPE, metadata={"site": "act"})
    (tmp_path / "neurons.json").write_text(json.dumps({"conservation": {"method": "delta-p"}}))
    return tmp_path


def _ladder(dimension: str, seed: int) -> Ladder:
    return build_ladder(
        _diffs(seed), dimension=dimension, layers=LAYERS, total_neurons=20, fractions=(0.1, 0.2),
        item_ids=IDS,
    )  # fmt: skip


def _same(a: Ladder, b: Ladder) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype and torch.equal(x, y), name
        else:
            assert x == y, name


def test_ladders_round_trip_bit_exactly_beside_the_neuron_sets(tmp_path: Path) -> None:
    run = _run(tmp_path)
    path = run / "neurons.safetensors"
    sets_before = load_neuron_sets(run, expect=SHAPE)
    with safe_open(str(path), framework="pt") as handle:
        header_before, keys_before = dict(handle.metadata()), set(handle.keys())
    tensors_before = load_file(str(path))
    ladders = {d: _ladder(d, seed) for seed, d in enumerate(("conservation", "self_enhancement"))}
    save_ladders(run, ladders)

    loaded = load_ladders(run)
    assert list(loaded) == ["conservation", "self_enhancement"]
    for seed, (dimension, ladder) in enumerate(ladders.items()):
        _same(ladder, loaded[dimension])
        assert loaded[dimension].item_ids == tuple(IDS)
        assert loaded[dimension].digest == differences_digest(_diffs(seed))
    assert not (run / "contrast").exists(), "the differences themselves are not kept"
    # Every earlier key and header field is kept, bit for bit; the neuron sets still load.
    with safe_open(str(path), framework="pt") as handle:
        header, keys = dict(handle.metadata()), set(handle.keys())
    assert {k: header[k] for k in header_before} == header_before
    assert keys - keys_before == {
        f"ladder.{d}.{n}" for d in ladders for n in ("order", "effect", "delta")
    }
    after = load_file(str(path))
    for key, tensor in tensors_before.items():  # NaN effect sizes (one prompt) included
        torch.testing.assert_close(after[key], tensor, rtol=0, atol=0, equal_nan=True)
    entry = json.loads(header["ladders"])["conservation"]
    assert entry == {
        "layers": [1, 2, 3], "neurons_per_layer": 4, "total_neurons": 20, "sizes": [2, 4, 12],
        "labels": ["10%", "20%", "band"], "fractions": [0.1, 0.2, 0.6], "items": 4,
        "contrast": "pairs", "item_ids": IDS, "digest": differences_digest(_diffs(0)),
    }  # fmt: skip
    sets = load_neuron_sets(run, expect=SHAPE)
    for before, now in zip(sets_before["conservation"], sets["conservation"], strict=True):
        assert torch.equal(before.index, now.index) and torch.equal(before.d, now.d)
    # The readable view: each point's size, label and neurons per layer, beside the sets.
    readable = json.loads((run / "neurons.json").read_text())
    assert readable["conservation"]["method"] == "delta-p"
    points = readable["conservation"]["ladder"]["points"]
    assert [p["label"] for p in points] == ["10%", "20%", "band"]
    ladder = ladders["conservation"]
    for k, point in enumerate(points):
        assert point["size"] == ladder.sizes[k]
        assert point["per_layer"] == {str(layer): n for layer, n in ladder.counts(k).items()}
    assert points[-1]["per_layer"] == {"1": 4, "2": 4, "3": 4}
    # Written again for one dimension: that one is replaced, the other kept.
    save_ladders(run, {"conservation": _ladder("conservation", 5)})
    again = load_ladders(run)
    _same(again["conservation"], _ladder("conservation", 5))
    _same(again["self_enhancement"], ladders["self_enhancement"])


def test_a_file_without_ladders_still_loads_its_sets_and_says_so(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert load_neuron_sets(run, expect=SHAPE)["conservation"].affirm.method == "delta-p"
    with pytest.raises(ArtifactError, match=r"neurons.safetensors holds no sparsity ladder"):
        load_ladders(run)
    with pytest.raises(ArtifactError, match="does not exist"):
        load_ladders(tmp_path / "elsewhere")


def _rewrite(path: Path, change_header=None, drop: str | None = None) -> None:  # type: ignore[no-untyped-def]
    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata())
    tensors = {k: v for k, v in load_file(str(path)).items() if k != drop}
    if change_header is not None:
        change_header(header)
    save_file(tensors, str(path), header)


def test_malformed_ladders_are_errors_naming_the_file(tmp_path: Path) -> None:
    run = _run(tmp_path)
    path = run / "neurons.safetensors"
    save_ladders(run, {"conservation": _ladder("conservation", 0)})
    good = path.read_bytes()

    def sizes(header: dict) -> None:
        entries = json.loads(header["ladders"])
        entries["conservation"]["sizes"] = [2, 4, 11]
        header["ladders"] = json.dumps(entries)

    def no_labels(header: dict) -> None:
        entries = json.loads(header["ladders"])
        del entries["conservation"]["labels"]
        header["ladders"] = json.dumps(entries)

    def ids_short(header: dict) -> None:
        entries = json.loads(header["ladders"])
        entries["conservation"]["item_ids"] = IDS[:3]
        header["ladders"] = json.dumps(entries)

    cases = [
        (lambda h: h.update(ladders="{not json"), None),
        (ids_short, None),
        (lambda h: h.update(ladders="[1, 2]"), None),
        (sizes, None),
        (no_labels, None),
        (None, "ladder.conservation.delta"),
    ]
    for change, drop in cases:
        path.write_bytes(good)
        _rewrite(path, change, drop)
        with pytest.raises(ArtifactError, match=r"neurons.safetensors has a malformed sparsity"):
            load_ladders(run)
        assert load_neuron_sets(run, expect=SHAPE), "the sets are untouched by a bad ladder"

    # A ladder written before ids and digests (both absent) still loads, with neither.
    def old(header: dict) -> None:
        entries = json.loads(header["ladders"])
        del entries["conservation"]["item_ids"], entries["conservation"]["digest"]
        header["ladders"] = json.dumps(entries)

    path.write_bytes(good)
    _rewrite(path, old)
    ladder = load_ladders(run)["conservation"]
    assert ladder.item_ids == () and ladder.digest == ""
    assert torch.equal(ladder.order, _ladder("conservation", 0).order)


def test_save_refuses_what_does_not_fit(tmp_path: Path) -> None:
    ladder = {"conservation": _ladder("conservation", 0)}
    with pytest.raises(ArtifactError, match="does not exist"):
        save_ladders(tmp_path, ladder)
    run = _run(tmp_path)
    with pytest.raises(ValueError, match="3 item ids for a ladder of 4 items"):
        build_ladder(_diffs(0), dimension="conservation", layers=LAYERS, total_neurons=20,
                     item_ids=IDS[:3])  # fmt: skip
    other = build_ladder(_diffs(0), dimension="conservation", layers=LAYERS, total_neurons=40)
    with pytest.raises(ValueError, match="another model"):
        save_ladders(run, {"conservation": other})
    with pytest.raises(ArtifactError, match="holds no sparsity ladder"):
        load_ladders(run)  # nothing was written
