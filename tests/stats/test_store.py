"""The statistics' file format (:mod:`valuelocate.stats.store`): the compressed histogram
decodes to the dense one, bin 0 restored from the token counts, and damage is refused."""

from __future__ import annotations

import pytest
import torch

from valuelocate.stats.store import decode_histogram, encode_histogram, histogram_crc


def test_histogram_round_trip_restores_bin_zero() -> None:
    layers, neurons, bins = 2, 3, 5
    hist = torch.randint(0, 300, (layers, neurons, bins), dtype=torch.int32,
                         generator=torch.Generator().manual_seed(1))  # fmt: skip
    n = hist.sum(-1).max(-1).values.to(torch.int64) + 7  # tokens per layer
    hist[..., 0] = (n[:, None] - hist[..., 1:].sum(-1)).to(torch.int32)
    blob, width = encode_histogram([h.reshape(-1) for h in hist], neurons, bins)
    assert width == 2  # counts up to 299 need two bytes
    decoded = decode_histogram(blob, width, n, layers, neurons, bins)
    assert torch.equal(decoded, hist) and histogram_crc(decoded) == histogram_crc(hist)
    with pytest.raises(ValueError, match="expected exactly"):
        decode_histogram(blob, width, n, layers, neurons + 1, bins)
    with pytest.raises(ValueError, match="exceed the token counts"):
        decode_histogram(blob, width, torch.zeros(layers, dtype=torch.int64), layers, neurons, bins)
    with pytest.raises(ValueError, match="width"):
        decode_histogram(blob, 3, n, layers, neurons, bins)
