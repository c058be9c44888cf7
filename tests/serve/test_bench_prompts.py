"""The serving benchmarks' situational prompts (benchmarks/serve_setup.py): every request of a
round its own prompt, and each repeat new ones, so no few answers decide how often a round
meets a near tie."""

from __future__ import annotations

from types import ModuleType

import pytest

from benchmark_scripts import load
from valuelocate.data import DIMENSION_NAMES, load_prompts


def _setup() -> ModuleType:
    return load("serve_setup")


def test_situation_texts_are_distinct_and_repeats_do_not_overlap() -> None:
    setup = _setup()
    n = 32  # 16 clients x 2 requests, as bench_serve.py's largest round
    rounds = [setup.situation_texts(n, repeat=r) for r in range(3)]
    for texts in rounds:
        assert len(texts) == n and len(set(texts)) == n
    assert not set(rounds[0]) & set(rounds[1]) and not set(rounds[1]) & set(rounds[2])
    # the four dimensions in turn, all from the search split
    dims = list(DIMENSION_NAMES)
    search = {d: {p.text for p in load_prompts(dimension=d, split="search")} for d in dims}
    for i, text in enumerate(rounds[0]):
        assert text in search[dims[i % 4]]


def test_situation_texts_says_when_the_split_runs_out() -> None:
    setup = _setup()
    with pytest.raises(ValueError, match="situational prompts"):
        setup.situation_texts(8, repeat=10**6)
