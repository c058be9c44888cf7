"""benchmarks/forward_peak.py's arithmetic: the multiply-adds it counts per token (worked by
hand for a tiny Llama) and the profiled shares it reports."""

from __future__ import annotations

from types import ModuleType

import torch

from benchmark_scripts import load

from tiny_models import build


def _script() -> ModuleType:
    return load("forward_peak")


def test_linear_macs_per_token_by_hand() -> None:
    # hidden 64, MLP 96, 3 layers, 4 heads of 16 with 2 key-value heads:
    # q 64x64, k 64x32, v 64x32, o 64x64; gate, up and down 64x96 each; the head not counted
    per_layer = 64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 96
    assert _script().linear_macs_per_token(build("llama")) == 3 * per_layer


def test_operator_shares_cover_the_profile() -> None:
    model = build("llama")
    ids = torch.randint(3, 100, (2, 12), generator=torch.Generator().manual_seed(0))

    def forward() -> None:
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)

    total, shares = _script().operator_shares(forward)
    assert total > 0
    assert set(shares) == {"matmul", "attention", "other"}
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    assert shares["matmul"] > 0  # the linear layers ran as matrix products
