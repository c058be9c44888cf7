"""The local backend and the failure counts: ``HFBackend`` on the real 260k-parameter Llama is
seeded (the same seed, the same answers); ``FailureCounts`` adds, subtracts and sums up its kinds;
the package loads its backends on first use."""

from __future__ import annotations

import pytest

import valuelocate.llm
from conftest import needs_stories
from valuelocate.llm.base import FAILURE_KINDS, FailureCounts
from valuelocate.llm.hf import HFBackend

from tiny_models import STORIES

MESSAGES = [{"role": "user", "content": "Write one sentence about a cat."}]


def test_the_package_gives_the_backends_of_their_modules() -> None:
    from valuelocate.llm.openai_compat import OpenAIBackend

    assert valuelocate.llm.HFBackend is HFBackend
    assert valuelocate.llm.OpenAIBackend is OpenAIBackend
    with pytest.raises(AttributeError):
        valuelocate.llm.NoSuchBackend  # noqa: B018


def test_failure_counts_add_merge_and_subtract() -> None:
    counts = FailureCounts()
    counts.add(FAILURE_KINDS[0], 2)
    before = FailureCounts(**counts.as_dict())
    counts.add(FAILURE_KINDS[-1])
    assert counts.failures == 3
    assert counts.minus(before).failures == 1
    assert f"failed attempts: {FAILURE_KINDS[0]} 2" in counts.summary()
    before.merge(counts)
    assert before.failures == 5
    with pytest.raises(ValueError, match="unknown failure kind"):
        counts.add("no-such-kind")


@needs_stories
def test_hf_backend_is_seeded() -> None:
    backend = HFBackend.load(str(STORIES))
    ids = backend.prompt_ids(MESSAGES)
    assert ids and all(isinstance(i, int) for i in ids)
    first = backend.complete(MESSAGES, temperature=1.0, max_tokens=6, n=2, seed=3)
    again = backend.complete(MESSAGES, temperature=1.0, max_tokens=6, n=2, seed=3)
    assert first == again and len(first) == 2 and all(isinstance(t, str) for t in first)
