"""Oracle tests for valuelocate.stats: streaming statistics against brute force."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor

from valuelocate.stats import NeuronStats, accumulator, constants, kernels
from valuelocate.stats.moments import OpenBatch
from valuelocate.stats.update import Workspace, hist_update

L, N = 3, 7  # layers, neurons of the synthetic data
BINS, WIDTH = 301, 0.01


def make_batches(seed: int = 0) -> list[tuple[list[Tensor], Tensor]]:
    """Batches of (per-layer values [batch, seq, N], mask [batch, seq]) with padding, a row
    with no tokens, exact zeros and values past the histogram's range."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for batch, seq in ((4, 9), (3, 12), (5, 6)):
        values = []
        for _ in range(L):
            v = torch.randn(batch, seq, N, generator=gen) * 1.3 + 0.4
            v[..., 0] = v[..., 0].clamp(min=0.0)  # a ReLU-like neuron: many exact zeros
            v[..., 1] = v[..., 1] * 3.0  # a neuron that often overflows the histogram
            values.append(v)
        mask = torch.rand(batch, seq, generator=gen) > 0.3
        mask[0, :3] = False  # left padding
        mask[1] = False  # a prompt with no counted token
        batches.append((values, mask))
    return batches


def feed(stats: NeuronStats, batches: list[tuple[list[Tensor], Tensor]], *, decode: bool) -> None:
    """One ``add`` per layer and batch, or (decode) one per layer and token position."""
    for values, mask in batches:
        seq = mask.shape[1]
        chunks = [slice(t, t + 1) for t in range(seq)] if decode else [slice(0, seq)]
        for chunk in chunks:
            for layer in range(L):
                stats.add(layer, values[layer][:, chunk], mask[:, chunk])
        stats.end_batch()


def brute(batches: list[tuple[list[Tensor], Tensor]], layer: int) -> dict[str, Tensor]:
    """Every statistic recomputed from all materialised values of ``layer``."""
    tokens = torch.cat([v[layer][m] for v, m in batches]).double()  # [tokens, N]
    prompts = [
        v[layer][i][m[i]].double().mean(0)
        for v, m in batches
        for i in range(m.shape[0])
        if m[i].any()
    ]
    prompt_means = torch.stack(prompts)  # [prompts, N]
    return {
        "tokens": tokens,
        "p": (tokens > 0).double().mean(0),
        "mean": tokens.mean(0),
        "var": tokens.var(0),
        "prompt_count": torch.tensor(len(prompts)),
        "prompt_mean": prompt_means.mean(0),
        "prompt_var": prompt_means.var(0),
    }


def order_statistic(tokens: Tensor, q: float) -> Tensor:
    """The ceil(q * n)-th smallest value per neuron (the value the histogram rule brackets)."""
    rank = math.ceil(q * tokens.shape[0])
    return tokens.sort(0).values[rank - 1]


def assert_matches_brute(stats: NeuronStats, batches: list[tuple[list[Tensor], Tensor]]) -> None:
    for layer in range(L):
        ref = brute(batches, layer)
        assert int(stats.n[layer]) == ref["tokens"].shape[0]
        assert int(stats.prompt_count[layer]) == int(ref["prompt_count"])
        for key in ("p", "mean", "var", "prompt_mean", "prompt_var"):
            got = getattr(stats, key)[layer]
            torch.testing.assert_close(got, ref[key], rtol=1e-12, atol=1e-12, msg=key)
        exact = order_statistic(ref["tokens"], 0.95)
        q95 = stats.q95[layer]
        overflow = (BINS - 2) * WIDTH
        expected = exact.clamp(0.0, overflow)  # negative reads as 0, overflow as its edge
        inside = (exact >= 0) & (exact < overflow)
        assert ((q95 - expected).abs()[inside] <= WIDTH + 1e-9).all()
        assert torch.equal(q95[~inside], expected[~inside])


def test_streaming_equals_brute_force() -> None:
    batches = make_batches()
    stats = NeuronStats(L, N)
    feed(stats, batches, decode=False)
    assert_matches_brute(stats, batches)


def test_decode_style_calls_equal_one_call() -> None:
    batches = make_batches()
    whole, steps = NeuronStats(L, N), NeuronStats(L, N)
    feed(whole, batches, decode=False)
    feed(steps, batches, decode=True)
    assert_matches_brute(steps, batches)
    a, b = whole.state_dict(), steps.state_dict()
    for key in ("n", "hist", "prompt_n"):
        assert torch.equal(a[key], b[key]), key
    for key in ("mean", "m2", "prompt_mean", "prompt_m2"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-12, atol=1e-12)


def test_weighted_path_equals_gathered_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The accelerator path (zero weights, no read-back) gives the CPU path's results."""
    batches = make_batches(seed=1)
    gathered = NeuronStats(L, N)
    feed(gathered, batches, decode=True)
    monkeypatch.setattr(accumulator, "gathers_tokens", lambda device: False)
    weighted = NeuronStats(L, N)
    feed(weighted, batches, decode=True)
    feed_check = weighted.state_dict()
    for key, value in gathered.state_dict().items():
        if value.dtype == torch.float64:
            torch.testing.assert_close(feed_check[key], value, rtol=1e-12, atol=1e-12)
        else:
            assert torch.equal(feed_check[key], value), key
    assert_matches_brute(weighted, batches)


def test_no_mask_counts_everything() -> None:
    values = torch.randn(2, 5, N, dtype=torch.float32)
    a, b = NeuronStats(1, N), NeuronStats(1, N)
    a.add(0, values)
    b.add(0, values, torch.ones(2, 5, dtype=torch.bool))
    a.end_batch()
    b.end_batch()
    for key, value in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], value, rtol=1e-12, atol=1e-12)


def test_merge_of_shards_equals_whole() -> None:
    batches = make_batches()
    whole = NeuronStats(L, N)
    feed(whole, batches, decode=False)
    shards = [NeuronStats(L, N) for _ in batches]
    for shard, batch in zip(shards, batches, strict=True):
        feed(shard, [batch], decode=False)
    before = shards[0].state_dict()
    merged = shards[0] + shards[1] + shards[2]
    for key, value in before.items():  # __add__ leaves its operands alone
        assert torch.equal(shards[0].state_dict()[key], value)
    in_place = shards[2].clone().merge(shards[0]).merge(shards[1])
    for result in (merged, in_place):
        got, ref = result.state_dict(), whole.state_dict()
        for key in ("n", "hist", "prompt_n"):
            assert torch.equal(got[key], ref[key]), key
        for key in ("mean", "m2", "prompt_mean", "prompt_m2"):
            torch.testing.assert_close(got[key], ref[key], rtol=1e-12, atol=1e-12)


def test_merge_with_empty_is_identity() -> None:
    stats = NeuronStats(L, N)
    feed(stats, make_batches(), decode=False)
    merged = stats + NeuronStats(L, N)
    for key, value in stats.state_dict().items():
        assert torch.equal(merged.state_dict()[key], value), key


def test_merge_rejects_other_geometry_and_open_batches() -> None:
    with pytest.raises(ValueError, match="geometry"):
        NeuronStats(L, N).merge(NeuronStats(L, N, hist_bins=151, bin_width=0.02))
    open_batch = NeuronStats(L, N)
    open_batch.add(0, torch.randn(2, 3, N))
    with pytest.raises(RuntimeError, match="end_batch"):
        NeuronStats(L, N).merge(open_batch)


def test_histogram_bin_edges() -> None:
    values = torch.tensor([-0.5, -1e-6, 0.0, 1e-30, 0.005, 0.015, 1.005, 2.985, 2.995, 50.0])
    stats = NeuronStats(1, 1)
    stats.add(0, values.view(1, -1, 1))
    hist = stats.histogram(0)[0]
    expected_bins = [0, 0, 0, 1, 1, 2, 101, 299, 300, 300]
    expected = torch.bincount(torch.tensor(expected_bins), minlength=BINS).to(hist.dtype)
    assert torch.equal(hist, expected)
    assert stats.bin_edges()[:3].tolist() == [0.0, 0.01, 0.02]


def test_nan_values_do_not_crash_the_histogram() -> None:
    stats = NeuronStats(1, 2)
    stats.add(0, torch.tensor([[[float("nan"), 1.0]]]))
    assert int(stats.histogram(0).sum()) == 2
    stats.end_batch()
    assert stats.c.tolist() == [[0, 1]]  # NaN is not > 0


def test_quantile_interpolates_inside_the_bin() -> None:
    # 100 values at the bin centres 0.005, 0.015, ..., 0.995: one per bin.
    values = (torch.arange(100, dtype=torch.float64) + 0.5) / 100
    stats = NeuronStats(1, 1)
    stats.add(0, values.view(1, -1, 1))
    stats.end_batch()
    # t = 95: bin 95 ([0.94, 0.95)) reaches it with its only value: 0.94 + 0.01 * 1/1.
    assert stats.q95.item() == pytest.approx(0.95, abs=1e-12)
    assert stats.quantile(0.5).item() == pytest.approx(0.50, abs=1e-12)
    assert stats.quantile(1.0).item() == pytest.approx(1.00, abs=1e-12)


def test_quantile_of_negative_and_overflowing_neurons_and_empty_stats() -> None:
    stats = NeuronStats(2, 2)
    stats.add(0, torch.tensor([[[-1.0, 5.0], [-2.0, 7.0]]]))
    stats.end_batch()
    assert stats.q95[0].tolist() == [0.0, pytest.approx(2.99)]
    assert torch.isnan(stats.q95[1]).all()  # layer 1 never saw a token
    assert torch.isnan(stats.p[1]).all()
    assert stats.var[0].tolist() == [0.5, 2.0]  # n = 2: defined
    assert torch.isnan(stats.prompt_var[0]).all()  # one prompt: undefined


def test_batch_size_change_without_end_batch_is_an_error() -> None:
    stats = NeuronStats(1, N)
    stats.add(0, torch.randn(2, 3, N))
    with pytest.raises(ValueError, match="end_batch"):
        stats.add(0, torch.randn(3, 1, N))
    with pytest.raises(RuntimeError, match="end_batch"):
        stats.state_dict()


def test_bad_calls_are_errors() -> None:
    stats = NeuronStats(2, N)
    with pytest.raises(ValueError, match="out of range"):
        stats.add(2, torch.randn(1, 1, N))
    with pytest.raises(ValueError, match="Expected values"):
        stats.add(0, torch.randn(1, 1, N + 1))
    with pytest.raises(ValueError, match="Mask shape"):
        stats.add(0, torch.randn(1, 2, N), torch.ones(1, 3, dtype=torch.bool))


def test_save_load_round_trip_is_bit_exact(tmp_path: Path) -> None:
    stats = NeuronStats(L, N, hist_bins=151, bin_width=0.02)
    feed(stats, make_batches(), decode=False)
    path = tmp_path / "stats.safetensors"
    stats.save(path, metadata={"dimension": "conservation", "pole": "affirm"})
    loaded = NeuronStats.load(path)
    assert (loaded.hist_bins, loaded.bin_width) == (151, 0.02)
    for key, value in stats.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    header = NeuronStats.read_metadata(path)
    assert header["pole"] == "affirm" and header["num_layers"] == str(L)
    with pytest.raises(ValueError, match="reserved"):
        stats.save(path, metadata={"version": "9"})


def test_garbage_and_truncated_files_raise_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file" * 10)
    with pytest.raises(ValueError, match="garbage.safetensors"):
        NeuronStats.load(garbage)
    good = tmp_path / "good.safetensors"
    NeuronStats(L, N).save(good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated.safetensors"):
        NeuronStats.load(truncated)


def test_mismatched_files_raise_a_clear_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    stats = NeuronStats(L, N)
    feed(stats, make_batches(), decode=False)
    header = {
        "format": constants.FORMAT_NAME,
        "version": constants.FORMAT_VERSION,
        "num_layers": str(L),
        "neurons": str(N),
        "hist_bins": str(BINS),
        "bin_width": "0.01",
    }
    cases = {
        "missing": ({k: v for k, v in stats.state_dict().items() if k != "m2"}, header),
        "shape": ({**stats.state_dict(), "m2": torch.zeros(L, N + 1, dtype=torch.float64)}, header),
        "dtype": ({**stats.state_dict(), "mean": torch.zeros(L, N)}, header),
        "header": (stats.state_dict(), {**header, "neurons": str(N + 1)}),
        "counts": ({**stats.state_dict(), "n": stats.state_dict()["n"] + 1}, header),
        "format": (stats.state_dict(), {**header, "format": "something.else"}),
    }
    for name, (state, meta) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(state, str(path), meta)
        with pytest.raises(ValueError, match=f"{name}.safetensors"):
            NeuronStats.load(path)
    with pytest.raises(FileNotFoundError):
        NeuronStats.load(tmp_path / "absent.safetensors")


def test_from_state_dict_validates() -> None:
    state = NeuronStats(L, N).state_dict()
    with pytest.raises(ValueError, match="keys"):
        NeuronStats.from_state_dict({**state, "extra": torch.zeros(1)})


def test_to_moves_state_and_results_stay_on_cpu() -> None:
    stats = NeuronStats(L, N)
    assert stats.to("cpu") is stats
    feed(stats, make_batches(), decode=False)
    assert stats.p.device.type == "cpu"
    assert stats.histogram(0).shape == (N, BINS)


# ---------------------------------------------------------------------- real hooks


def tiny_llama() -> torch.nn.Module:
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=100,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def left_padded_batch() -> dict[str, Tensor]:
    ids = torch.tensor([[0, 0, 0, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0, 9, 10]])
    attention = (torch.arange(7)[None, :] >= torch.tensor([[3], [0], [5]])).long()
    return {"input_ids": ids, "attention_mask": attention}


def test_real_hooks_single_forward_with_left_padding() -> None:
    from valuelocate.hooks import capture_activations, trace_neurons

    model = tiny_llama()
    batch = left_padded_batch()
    stats = NeuronStats(2, 128)
    with torch.no_grad(), trace_neurons(model, stats.add, scope="all"):
        model(**batch)
    stats.end_batch()
    with torch.no_grad(), capture_activations(model, scope="all") as cap:
        model(**batch)
    lengths = batch["attention_mask"].sum(1).tolist()  # tokens of each row, row-major order
    for layer in range(2):
        tokens = cap.values(layer).double()  # [tokens, neurons]
        assert tokens.shape[0] == sum(lengths) == int(stats.n[layer])
        prompt_means = torch.stack([t.mean(0) for t in tokens.split(lengths)])
        close = {"rtol": 1e-9, "atol": 1e-12}
        torch.testing.assert_close(stats.p[layer], (tokens > 0).double().mean(0), **close)
        torch.testing.assert_close(stats.mean[layer], tokens.mean(0), **close)
        torch.testing.assert_close(stats.var[layer], tokens.var(0), **close)
        torch.testing.assert_close(stats.prompt_mean[layer], prompt_means.mean(0), **close)
        torch.testing.assert_close(stats.prompt_var[layer], prompt_means.var(0), **close)


def test_real_hooks_generate_with_kv_cache() -> None:
    """Generated tokens arrive one decoding step at a time; prompt means still come out right."""
    from valuelocate.hooks import capture_activations, trace_neurons

    model = tiny_llama()
    batch = left_padded_batch()
    kwargs = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": 0}
    stats = NeuronStats(2, 128)
    with torch.no_grad(), trace_neurons(model, stats.add, scope="generated"):
        model.generate(**batch, **kwargs)
    stats.end_batch()
    with torch.no_grad(), capture_activations(model, scope="generated") as cap:
        model.generate(**batch, **kwargs)
    for layer in range(2):
        steps = [chunk.double() for chunk in cap.chunks[layer] if chunk.shape[0]]
        assert all(step.shape[0] == 3 for step in steps)  # one token per row per step
        per_step = torch.stack(steps)  # [steps, rows, neurons]
        tokens = per_step.reshape(-1, 128)
        prompt_means = per_step.mean(0)  # [rows, neurons]
        assert int(stats.n[layer]) == tokens.shape[0] and int(stats.prompt_count[layer]) == 3
        close = {"rtol": 1e-9, "atol": 1e-12}
        torch.testing.assert_close(stats.p[layer], (tokens > 0).double().mean(0), **close)
        torch.testing.assert_close(stats.mean[layer], tokens.mean(0), **close)
        torch.testing.assert_close(stats.prompt_mean[layer], prompt_means.mean(0), **close)
        torch.testing.assert_close(stats.prompt_var[layer], prompt_means.var(0), **close)


# ---------------------------------------------------------------------- issue 12: storage, subsets

V2_FILE = Path(__file__).parent / "stats_v2.safetensors"


def test_a_version_2_file_written_by_the_previous_code_still_loads() -> None:
    """tests/stats/stats_v2.safetensors was written by the format-2 code (commit 70f8323) from
    make_batches() with 151 bins of 0.02; today's reader gives the same statistics."""
    assert NeuronStats.read_metadata(V2_FILE)["version"] == "2"
    loaded = NeuronStats.load(V2_FILE)
    assert (loaded.hist_bins, loaded.bin_width) == (151, 0.02)
    assert loaded.statistics == frozenset(constants.STATISTICS)
    fresh = NeuronStats(L, N, hist_bins=151, bin_width=0.02)
    feed(fresh, make_batches(), decode=False)
    got, ref = loaded.state_dict(), fresh.state_dict()
    for key in ("n", "hist", "prompt_n"):
        assert torch.equal(got[key], ref[key]), key
    for key in ("mean", "m2", "prompt_mean", "prompt_m2"):
        torch.testing.assert_close(got[key], ref[key], rtol=1e-12, atol=1e-12)


def _many_tokens(count: int, value: float) -> Tensor:
    return torch.full((1, count, 2), value)


@pytest.mark.parametrize("count", [200, 300, 70_000])  # 1-, 2- and 4-byte counts
def test_compressed_histogram_round_trip_is_exact_and_small(tmp_path: Path, count: int) -> None:
    stats = NeuronStats(2, 2)
    stats.add(0, _many_tokens(count, 0.5))
    stats.add(1, torch.randn(1, count, 2))
    stats.end_batch()
    path = tmp_path / "s.safetensors"
    stats.save(path)
    width = 1 if count < 256 else 2 if count < 65536 else 4
    assert NeuronStats.read_metadata(path)["hist_width"] == str(width)
    loaded = NeuronStats.load(path)
    for key, value in stats.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    dense_bytes = 2 * 2 * 301 * 4
    assert path.stat().st_size < dense_bytes + 2000  # header and moments included


def test_a_corrupt_histogram_stream_is_a_clear_error(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    stats = NeuronStats(L, N)
    feed(stats, make_batches(), decode=False)
    good = tmp_path / "good.safetensors"
    stats.save(good)
    tensors, header = load_file(good), NeuronStats.read_metadata(good)
    blob = tensors["hist_zlib"].clone()
    cases = {
        "flipped": {**tensors, "hist_zlib": torch.cat([blob[:10], blob[10:].flip(0)])},
        "short": {**tensors, "hist_zlib": blob[: len(blob) // 2]},
        "tokens": {**tensors, "n": tensors["n"] - 1},
    }
    for name, state in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(state, str(path), header)
        with pytest.raises(ValueError, match=f"{name}.safetensors"):
            NeuronStats.load(path)


def test_kept_statistics_give_the_same_results_and_others_raise(tmp_path: Path) -> None:
    batches = make_batches()
    full = NeuronStats(L, N)
    lean = NeuronStats(L, N, statistics={"histogram", "prompt"})
    no_hist = NeuronStats(L, N, statistics={"prompt"})
    for stats in (full, lean, no_hist):
        feed(stats, batches, decode=True)
    for key in ("p", "q95", "mean", "prompt_count", "prompt_mean", "prompt_var"):
        got, ref = getattr(lean, key), getattr(full, key)
        assert torch.equal(got.nan_to_num(-9.0), ref.nan_to_num(-9.0)), key
    assert torch.equal(no_hist.prompt_mean, full.prompt_mean)
    with pytest.raises(RuntimeError, match="var"):
        _ = lean.var
    with pytest.raises(RuntimeError, match="histogram"):
        _ = no_hist.q95
    with pytest.raises(ValueError, match="keep"):
        full.clone().merge(lean)
    for stats in (lean, no_hist):
        path = tmp_path / "lean.safetensors"
        stats.save(path)
        loaded = NeuronStats.load(path)
        assert loaded.statistics == stats.statistics
        for key, value in stats.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(ValueError, match="Unknown statistics"):
        NeuronStats(L, N, statistics={"kurtosis"})


def _wide_batches(neurons: int, seq: int, seed: int) -> list[tuple[list[Tensor], Tensor]]:
    """Batches with more tokens a call than the compiled loop's block and a neuron count
    that ends in a partial tile."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for batch in (3, 2):
        values = [torch.randn(batch, seq, neurons, generator=gen) * 1.3 + 0.4 for _ in range(L)]
        mask = torch.rand(batch, seq, generator=gen) > 0.2
        mask[0, :5] = False
        batches.append((values, mask))
    return batches


def test_compiled_loop_over_blocks_and_partial_tiles_equals_brute_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Calls of several blocks of tokens and tiles of neurons (the last one partial): the
    CPU's compiled loop matches brute force, and the torch formulation (the accelerators'
    path, run on the CPU) counts the same histogram."""
    neurons = 2 * kernels.TILE + 5
    batches = _wide_batches(neurons, 2 * kernels.BLOCK + 17, seed=3)
    compiled = NeuronStats(L, neurons)
    feed(compiled, batches, decode=False)
    assert_matches_brute(compiled, batches)
    monkeypatch.setattr(accumulator, "gathers_tokens", lambda device: False)
    weighted = NeuronStats(L, neurons)
    feed(weighted, batches, decode=False)
    assert torch.equal(compiled.state_dict()["hist"], weighted.state_dict()["hist"])


def test_compiled_loop_bins_edge_values_as_torch_does() -> None:
    """Values on bin edges, signed zeros, NaN, infinities, past the range and in half
    precision land in the bins the torch formulation gives them."""
    width = 0.01
    edges = torch.arange(-3, 305, dtype=torch.float32) * width  # k * w, rounded as float32
    special = torch.tensor(
        [0.0, -0.0, 1e-30, -1e-30, float("nan"), float("inf"), -float("inf"), 1e30, 2.985,
         2.995, 3.0, 0.005, 0.015, 0.0099999, 0.0100001],
    )  # fmt: skip
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        column = torch.cat([edges, special, torch.randn(200) * 2]).to(dtype)
        x = torch.stack([column, column.flip(0), -column], dim=1)  # [tokens, 3]
        tokens, neurons = x.shape
        opened = OpenBatch(
            torch.zeros(neurons, dtype=torch.float64),
            torch.zeros(1, neurons, dtype=torch.float64),
            None,
            torch.zeros(1, dtype=torch.int64),
        )
        got = torch.zeros(neurons * BINS, dtype=constants.HIST_DTYPE)
        picked = torch.arange(tokens)
        kernels.add_tokens(opened, x, picked, picked * 0, got, width, BINS)
        want = torch.zeros_like(got)
        want.scatter_add_(0, *hist_update(x, None, width, Workspace(neurons, BINS)))
        assert torch.equal(got, want), dtype
        assert int(opened.count[0]) == tokens


def test_compiled_loop_does_not_depend_on_the_thread_count() -> None:
    """Each sum and bin is written by one thread, in token order: one thread and two give
    the same state to the bit."""
    batches = _wide_batches(2 * kernels.TILE + 5, kernels.BLOCK + 9, seed=4)
    threads = torch.get_num_threads()
    states = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            stats = NeuronStats(L, 2 * kernels.TILE + 5)
            feed(stats, batches, decode=False)
            states.append(stats.state_dict())
    finally:
        torch.set_num_threads(threads)
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def _write_v2(stats: NeuronStats, path: Path) -> None:
    """The format-2 writer as it was: dense int32 histogram, every moment."""
    from safetensors.torch import save_file

    header = {
        "format": constants.FORMAT_NAME, "version": "2", "num_layers": str(stats.num_layers),
        "neurons": str(stats.neurons), "hist_bins": str(stats.hist_bins),
        "bin_width": repr(stats.bin_width),
    }  # fmt: skip
    save_file({k: v.contiguous() for k, v in stats.state_dict().items()}, str(path), header)


def test_every_method_selects_the_same_neurons_from_v2_and_lean_v3_files(tmp_path: Path) -> None:
    from valuelocate.selection import SELECTION_METHODS

    gen = torch.Generator().manual_seed(5)
    layers, neurons = 4, 40
    poles = {}
    for pole, shift in (("affirm", 0.15), ("oppose", -0.1)):
        tilt = torch.randn(layers, 1, 1, neurons, generator=gen) * shift
        stats = NeuronStats(layers, neurons)
        for _ in range(3):
            values = torch.randn(layers, 6, 10, neurons, generator=gen) * 0.5 + tilt
            mask = torch.rand(6, 10, generator=gen) > 0.2
            for layer in range(layers):
                stats.add(layer, values[layer], mask)
            stats.end_batch()
        poles[pole] = stats
    for name, method_cls in SELECTION_METHODS.items():
        before, after = {}, {}
        for pole, stats in poles.items():
            _write_v2(stats, tmp_path / f"{pole}.v2.safetensors")
            before[pole] = NeuronStats.load(tmp_path / f"{pole}.v2.safetensors")
            needs = method_cls.needs  # type: ignore[attr-defined]
            lean = NeuronStats.from_state_dict(stats.state_dict(), statistics=needs)
            lean.save(tmp_path / f"{pole}.v3.safetensors")
            after[pole] = NeuronStats.load(tmp_path / f"{pole}.v3.safetensors")
        old = method_cls()(before["affirm"], before["oppose"])
        new = method_cls()(after["affirm"], after["oppose"])
        assert len(old.affirm) + len(old.oppose) > 0, name
        for a, b in zip(old, new, strict=True):
            for field in ("layer", "index", "d", "p", "q95", "effect_size"):
                assert torch.equal(getattr(a, field), getattr(b, field)), (name, field)


# ---------------------------------------------------------------------- CUDA (gpu_check.sh)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_hooks_count_what_the_captured_values_give(dtype: torch.dtype) -> None:
    """On CUDA (the weighted path, no read-back), statistics from the hooks equal statistics
    fed on the CPU with the very values the model produced there (captured)."""
    from valuelocate.hooks import capture_activations, trace_neurons

    model = tiny_llama().to("cuda", dtype)
    batch = {k: v.to("cuda") for k, v in left_padded_batch().items()}
    gpu = NeuronStats(2, 128)
    with torch.no_grad(), trace_neurons(model, gpu.add, scope="all"):
        model(**batch)
    gpu.end_batch()
    with torch.no_grad(), capture_activations(model, scope="all") as cap:
        model(**batch)
    lengths = batch["attention_mask"].sum(1).tolist()
    cpu = NeuronStats(2, 128)
    width = max(lengths)
    for layer in range(2):
        rows = cap.values(layer).split(lengths)  # float32 copies of the device's values
        values = torch.zeros(len(rows), width, 128)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            values[i, : row.shape[0]] = row
            mask[i, : row.shape[0]] = True
        cpu.add(layer, values, mask)
    cpu.end_batch()
    got, ref = gpu.state_dict(), cpu.state_dict()
    for key in ("n", "hist", "prompt_n"):
        assert torch.equal(got[key], ref[key]), key
    for key in ("mean", "m2", "prompt_mean", "prompt_m2"):
        torch.testing.assert_close(got[key], ref[key], rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_in_quick_mode(tmp_path: Path) -> None:
    """benchmarks/gpu_check.sh on this machine (CPU, quick mode): every step reports, the CUDA
    steps say why they were skipped, and the overhead figures land in the JSON file."""
    import json
    import os
    import subprocess
    import sys

    from tiny_models import STORIES

    if not STORIES.is_dir():
        pytest.skip("../shared/models is absent")
    root = Path(__file__).parents[2]
    out = tmp_path / "check.json"
    env = {**os.environ, "GPU_CHECK_QUICK": "1", "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(root / "benchmarks" / "gpu_check.sh"), str(out)],
        capture_output=True, text=True, timeout=900, env=env, cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    steps = report["steps"]
    assert steps["cuda_tests"]["status"] == "ok"
    assert steps["bench_default"]["status"] == "ok", steps["bench_default"]["tail"]
    forward = steps["bench_default"]["figures"]["overhead"]["forward"]
    assert forward["all"]["ratio"] > 0 and forward["off"]["ratio"] == 1.0
    if not report["torch_cuda"]:
        assert steps["vllm_tests"]["status"] == "skipped"


def test_compiled_loop_leaves_torch_on_its_thread_count() -> None:
    """numba's OpenMP layer starts its threads by setting the OpenMP runtime's thread count,
    which torch reads too: a process started with ``OMP_NUM_THREADS=1`` must still run its
    forwards on one thread after an update (they would round otherwise)."""
    code = (
        "import torch\n"
        "from valuelocate.stats import NeuronStats\n"
        "stats = NeuronStats(1, 40)\n"
        "stats.add(0, torch.randn(2, 5, 40))\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"
