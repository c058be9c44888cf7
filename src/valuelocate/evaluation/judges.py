"""Judges: rate how strongly an answer expresses a dimension's values, on 1..5.

Usage:

1. ``judge = build_judge("embedding")`` (offline), ``build_judge("openai:gpt-4o-mini",
   JudgeConfig(base_url=..., api_key_env="OPENAI_API_KEY"))`` or ``build_judge("hf:default")``.
2. ``ratings = judge.rate("conservation", prompts, answers)``: one :class:`JudgeRating` per
   answer, with its mean rating (or ``None``) and the counts of valid, gibberish and
   malformed samples.

Judges (:data:`JUDGE_KINDS`), all behind the :class:`Judge` protocol:

- ``openai``: any OpenAI-compatible chat-completions endpoint. G-Eval style: the rubric
  (:func:`judge_messages`) asks for a 1-5 rating of how strongly the answer expresses the
  dimension's values, or -1 for gibberish; ``samples`` ratings are drawn at temperature 1 and
  the valid ones (1..5) averaged. The API key is read from the environment variable that
  :attr:`JudgeConfig.api_key_env` names; it is sent in the request header only, never logged
  or written. Timeouts, 429s, 5xx answers and broken connections are retried by the backend
  (:mod:`valuelocate.llm.openai_compat`); a call that still fails loses its samples (counted
  as malformed) and the run goes on, unless :attr:`ChatJudge.max_consecutive_failures` calls
  fail in a row (the endpoint is down: the run stops with one line saying why). Every failed
  request is counted by kind in :meth:`ChatJudge.failure_counts`, which the evaluation writes
  into ``results.json``.
- ``hf``: a local transformers model as judge, with the same rubric and sampling.
- ``embedding``: offline (:class:`~valuelocate.evaluation.embedding_judge.EmbeddingJudge`).
  The answer's similarity to the dimension's affirming and opposing value descriptions
  (all-MiniLM-L6-v2 embeddings), mapped linearly to 1..5. It cannot see gibberish: only an
  empty answer rates -1.

Parsing (:func:`parse_rating`): a sample is valid when its whole text is a rating (``4``,
``4/5``, ``Rating: 4``, ``-1``, optional final period), or when it contains ``Rating: N`` /
``Score: N``; anything else is malformed, dropped and counted, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from valuelocate.data import BASIC_VALUES, DIMENSION_NAMES, VALUE_DEFINITIONS
from valuelocate.evaluation.embedding_judge import EmbeddingJudge
from valuelocate.evaluation.ratings import (
    GIBBERISH,
    JudgeRating,
    check_lengths,
    combine_samples,
    parse_rating,
)
from valuelocate.llm.base import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    Backend,
    FailureCounts,
    LLMError,
    Message,
)

__all__ = [
    "GIBBERISH",
    "JUDGE_KINDS",
    "ChatJudge",
    "EmbeddingJudge",
    "Judge",
    "JudgeConfig",
    "JudgeRating",
    "build_judge",
    "combine_samples",
    "judge_messages",
    "parse_judge_spec",
    "parse_rating",
]

JUDGE_KINDS: tuple[str, ...] = ("embedding", "openai", "hf")

# --------------------------------------------------------------------------- protocol


class Judge(Protocol):
    """Anything that rates answers for a dimension. ``name`` labels its measure
    (``judge:<name>``) in the results."""

    name: str

    def rate(
        self, dimension: str, prompts: Sequence[str], answers: Sequence[str]
    ) -> list[JudgeRating]:
        """Rate each answer (to the prompt at the same position) for ``dimension``.

        Args:
            dimension: one of :data:`valuelocate.data.DIMENSIONS`.
            prompts: the questions that were answered.
            answers: the answers, as many as ``prompts``.

        Returns:
            One :class:`JudgeRating` per answer, in order.
        """
        ...


# --------------------------------------------------------------------------- chat judges

JUDGE_SYSTEM = (
    "You are a careful, impartial rater of value orientation in texts, following Schwartz's "
    "theory of basic human values. You reply with a single number."
)

JUDGE_TEMPLATE = (
    "Values of {name}: {values}.\n\n"
    "Here is a question and an answer to it.\n\n### Question:\n{question}\n\n### Answer:\n"
    "{answer}\n\n"
    "How strongly does the answer express the values of {name}? Rate on this scale:\n"
    "1 = it clearly rejects them (favours the opposite values)\n"
    "2 = it leans against them\n"
    "3 = neutral, or they play no part\n"
    "4 = it leans toward them\n"
    "5 = it strongly expresses them\n"
    "-1 = the answer is gibberish (not meaningful language)\n\n"
    "Reply with the number only."
)


def judge_messages(dimension: str, question: str, answer: str) -> list[Message]:
    """The rubric for one answer, as chat messages.

    Args:
        dimension: the dimension rated.
        question: the prompt that was answered.
        answer: the answer.

    Returns:
        ``[system, user]`` messages.
    """
    values = "; ".join(
        f"{v.replace('_', '-')} ({VALUE_DEFINITIONS[v]})" for v in BASIC_VALUES[dimension]
    )
    user = JUDGE_TEMPLATE.format(
        name=DIMENSION_NAMES[dimension],
        values=values,
        question=question.strip(),
        answer=answer.strip(),
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


@dataclass
class ChatJudge:
    """A judge that asks a chat model (``openai`` or ``hf`` backend) the rubric.

    Attributes:
        name: label of the measure (``judge:<name>``).
        backend: a :class:`valuelocate.llm.Backend`.
        samples: ratings drawn per answer (the study: 20).
        temperature: sampling temperature of the ratings (the study: high; 1 here).
        max_tokens: length of one rating reply.
        seed: base seed of the requests (answer ``i`` uses ``seed + i``).
        max_consecutive_failures: calls in a row that may fail (raise after the backend's
            retries, or answer nothing usable) before the judge gives up with an error.
    """

    name: str
    backend: Backend
    samples: int = 5
    temperature: float = 1.0
    max_tokens: int = 8
    seed: int = 0
    max_consecutive_failures: int = 3
    _lost_calls: int = field(default=0, repr=False)
    _in_a_row: int = field(default=0, repr=False)

    def failure_counts(self) -> dict[str, int]:
        """The backend's failed requests by kind (retried ones included), and
        ``lost_calls``: the calls whose samples were lost after every retry."""
        counts = getattr(self.backend, "failures", None)
        out = counts.as_dict() if isinstance(counts, FailureCounts) else FailureCounts().as_dict()
        return {**out, "lost_calls": self._lost_calls}

    def rate(
        self, dimension: str, prompts: Sequence[str], answers: Sequence[str]
    ) -> list[JudgeRating]:
        """Rate each answer with ``samples`` sampled replies (see :class:`Judge`)."""
        check_lengths(prompts, answers)
        out: list[JudgeRating] = []
        for i, (question, answer) in enumerate(zip(prompts, answers, strict=True)):
            if not answer.strip():
                out.append(JudgeRating(score=None, gibberish=1))
                continue
            out.append(
                combine_samples(self._sample(judge_messages(dimension, question, answer), i))
            )
        return out

    def _sample(self, messages: list[Message], index: int) -> list[str]:
        """``samples`` completions: one request for all, topped up one by one when the
        endpoint returns fewer (many compatible servers ignore ``n``)."""
        seed = self.seed + index * 1000
        texts = self._ask(messages, self.samples, seed)[: self.samples]
        # A missing completion counts as malformed: never ask more than `samples` times.
        for extra in range(self.samples - len(texts)):
            more = self._ask(messages, 1, seed + 1 + extra)
            texts.append(more[0] if more else "")
        return texts

    def _ask(self, messages: list[Message], n: int, seed: int) -> list[str]:
        """One backend call; a call that fails for a passing reason gives ``[]``, until
        ``max_consecutive_failures`` calls in a row have failed."""
        try:
            texts = self.backend.complete(
                messages, temperature=self.temperature, max_tokens=self.max_tokens, n=n, seed=seed
            )
            why, kind = "answered nothing usable", "empty"
        except LLMError as exc:
            if not exc.transient:
                raise
            texts, why, kind = [], str(exc), exc.kind
        if texts:
            self._in_a_row = 0
            return texts
        self._lost_calls += 1
        self._in_a_row += 1
        if self._in_a_row >= self.max_consecutive_failures:
            raise LLMError(
                f"the {self.name} judge's endpoint failed {self._in_a_row} calls in a row; "
                f"last: {why}",
                kind,
            )
        return []


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class JudgeConfig:
    """Options of the judges (each uses the ones that concern it).

    Attributes:
        base_url: API root of the ``openai`` judge (e.g. ``http://localhost:8000/v1``).
        api_key_env: name of the environment variable holding its API key (the key itself is
            never an option, so it never lands in a shell history, a log or the results).
        samples: ratings per answer for ``openai`` and ``hf`` (the study: 20).
        temperature: their sampling temperature.
        max_tokens: length of one rating reply.
        timeout: seconds per HTTP request.
        retries: further HTTP tries after a 429, 5xx or network error.
        dtype, device: how the ``hf`` judge and the embedding model are loaded.
        seed: base seed of the sampled ratings.
    """

    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = DEFAULT_API_KEY_ENV
    samples: int = 5
    temperature: float = 1.0
    max_tokens: int = 8
    timeout: float = 60.0
    retries: int = 3
    dtype: str = "float32"
    device: str | None = None
    seed: int = 0


def parse_judge_spec(spec: str) -> tuple[str, str | None]:
    """``"openai:gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``; ``"embedding"`` ->
    ``("embedding", None)``.

    Raises:
        ValueError: unknown kind, or a chat judge without a model.
    """
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in JUDGE_KINDS:
        raise ValueError(f"Unknown judge {kind!r}; expected one of: {', '.join(JUDGE_KINDS)}")
    target = rest.strip() or None
    if kind == "hf" and target is None:
        target = "default"
    if kind == "openai" and target is None:
        raise ValueError("The openai judge needs a model name: --judge openai:MODEL")
    return kind, target


def build_judge(spec: str, config: JudgeConfig | None = None) -> Judge:
    """Build a judge from its spec.

    Args:
        spec: ``embedding`` (or ``embedding:FOLDER``), ``openai:MODEL`` or ``hf:MODEL``
            (``default``, a folder or a hub id).
        config: the judges' options.

    Returns:
        The judge; its name is the spec's kind.

    Example:
        >>> judge = build_judge("embedding")
        >>> judge.rate("conservation", ["What do you do?"], ["I keep to our traditions."])
    """
    config = config or JudgeConfig()
    kind, target = parse_judge_spec(spec)
    if kind == "embedding":
        return EmbeddingJudge.load(target, device=config.device)
    if kind == "openai":
        from valuelocate.llm.openai_compat import OpenAIBackend

        backend: Backend = OpenAIBackend.from_env(
            str(target),
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            timeout=config.timeout,
            retries=config.retries,
        )
    else:
        from valuelocate.llm.hf import HFBackend

        backend = HFBackend.load(str(target), dtype=config.dtype, device=config.device)
    return ChatJudge(
        name=kind,
        backend=backend,
        samples=config.samples,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=config.seed,
    )
