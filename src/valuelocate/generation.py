"""The one answer generator: every stage that makes the model write goes through here.

``valuelocate steer``, the evaluation's judged answers, locating with scope ``generated``, the
local chat backend and the server all call :func:`generate_ids` (the only place that calls
``model.generate``) with a :class:`GenerationConfig`, so the same prompt, edit, gamma and seed
give the same text everywhere.

Usage:

1. ``config = GenerationConfig(max_new_tokens=48)`` (greedy, repetition penalty 1.1 as in the
   study).
2. ``answers = generate_answers(lm, prompts, config=config, edit=edit)``.
3. Several edits over the same prompts in wide batches, reusing the prompts' KV cache:
   ``generate_stacked(lm, prompts, [edit_a, None, edit_b], config=config)``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from valuelocate.forward import cache_argument, input_device, output_cache, position_ids
from valuelocate.hooks import Edit, edit_neurons
from valuelocate.models import LoadedModel
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.steering.compose import EditStack
from valuelocate.vocab import SCOPES, Scope


@dataclass(frozen=True)
class GenerationConfig:
    """How answers are written.

    Attributes:
        max_new_tokens: answer length.
        temperature: 0 for greedy answers, else seeded sampling at this temperature
            (reproducible for the same seed, without touching the global RNG).
        repetition_penalty: the study used 1.1 (1.0 turns it off).
        batch_size: prompts per ``generate`` call.
        seed: seed of the sampling draws.
        chat_template: use the model's chat template when it has one.
        scope: positions an edit touches while answering (``generated``: the answer only,
            as in the study).
    """

    max_new_tokens: int = 48
    temperature: float = 0.0
    repetition_penalty: float = 1.1
    batch_size: int = 40
    seed: int = 0
    chat_template: bool = True
    scope: Scope = "generated"

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("--max-new-tokens and --batch-size must be >= 1")
        if self.temperature < 0:
            raise ValueError("--temperature must be >= 0")
        if self.repetition_penalty <= 0:
            raise ValueError("--repetition-penalty must be > 0")
        if self.scope not in SCOPES:
            raise ValueError(f"Unknown scope {self.scope!r}; expected one of {SCOPES}")


class SeededSampling:
    """Logits processor that samples with its own ``torch.Generator`` and leaves only the
    drawn token finite, so greedy decoding picks it (reproducible without global seeding)."""

    def __init__(self, temperature: float, generator: torch.Generator) -> None:
        self.temperature = temperature
        self.generator = generator

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)  # [b, vocab]
        choice = torch.multinomial(probs.cpu(), 1, generator=self.generator).to(scores.device)
        return torch.full_like(scores, float("-inf")).scatter_(1, choice, 0.0)


def sampling_processors(
    config: GenerationConfig, stream: int, *, generator_seed: int | None = None
) -> list[SeededSampling]:
    """The processors of one ``generate`` call: none when greedy, else a sampler seeded by
    ``(seed, stream)`` (``stream`` tells the calls of one run apart, e.g. the batch number),
    or by ``generator_seed`` exactly when given."""
    if config.temperature <= 0:
        return []
    seed = config.seed * 1000 + stream if generator_seed is None else generator_seed
    return [SeededSampling(config.temperature, torch.Generator().manual_seed(seed))]


def generate_ids(
    model: nn.Module,
    batch: dict[str, Tensor],
    *,
    config: GenerationConfig,
    pad_token_id: int | None,
    stream: int = 0,
    generator_seed: int | None = None,
    **extra: Any,
) -> Tensor:
    """``model.generate`` on a left-padded batch under ``config``: ``[batch, prompt + new]``.

    ``extra`` passes a prefilled KV cache (see :func:`generate_stacked`) or the stop ids
    (``eos_token_id``)."""
    generate: Any = model.generate  # type: ignore[operator]
    with torch.no_grad():
        return generate(
            **batch,
            max_new_tokens=config.max_new_tokens,
            do_sample=False,
            repetition_penalty=config.repetition_penalty,
            logits_processor=sampling_processors(config, stream, generator_seed=generator_seed),
            pad_token_id=pad_token_id,
            **extra,
        )


@contextmanager
def edited(model: nn.Module, edit: Edit | None, scope: Scope, **kwargs: Any) -> Iterator[None]:
    """``edit_neurons`` around a block, with the edit's draws restarted, or nothing when there
    is no edit."""
    if edit is None:
        with nullcontext():
            yield
        return
    edit.reset()
    with edit_neurons(model, edit, scope=scope, **kwargs):
        yield


def _decode(lm: LoadedModel, rows: Tensor) -> list[str]:
    return [lm.tokenizer.decode(row, skip_special_tokens=True).strip() for row in rows]


def generate_answers(
    lm: LoadedModel,
    prompts: Sequence[str],
    *,
    config: GenerationConfig,
    edit: Edit | None = None,
) -> list[str]:
    """Answers to ``prompts``, with ``edit`` applied at ``config.scope``.

    Returns:
        One answer per prompt, special tokens removed.

    Example:
        >>> generate_answers(lm, ["What matters most at work?"], config=GenerationConfig())
    """
    model = lm.model
    device = input_device(model)
    stops = stop_token_ids(model, lm.tokenizer)
    answers: list[str] = []
    for number, begin in enumerate(range(0, len(prompts), config.batch_size)):
        texts = list(prompts[begin : begin + config.batch_size])
        batch = chat_inputs(lm.tokenizer, texts, chat_template=config.chat_template)
        batch = {k: v.to(device) for k, v in batch.items()}
        with edited(model, edit, config.scope, stop_token_ids=stops):
            output = generate_ids(
                model, batch, config=config, pad_token_id=lm.tokenizer.pad_token_id, stream=number
            )
        answers.extend(_decode(lm, output[:, batch["input_ids"].shape[1] :]))
    return answers


def generate_stacked(
    lm: LoadedModel,
    prompts: Sequence[str],
    edits: Sequence[Edit | None],
    *,
    config: GenerationConfig,
    share_prefill: bool = True,
) -> list[list[str]]:
    """Answers to the same ``prompts`` under several edits, stacked into wide batches.

    Settings are stacked ``batch_size // len(prompts)`` at a time, each block of rows with its
    own edit (:class:`~valuelocate.steering.compose.EditStack`). With scope ``generated`` the
    prompts' forward is never edited, so it is computed once (all but the last prompt token)
    and its KV cache is copied to every block: only the answers are computed per setting.
    Greedy answers are the same as separate :func:`generate_answers` calls
    (``tests/test_generation.py``).

    Returns:
        Per setting, its answers.
    """
    block = len(prompts)
    per_call = max(1, config.batch_size // max(block, 1))
    share = share_prefill and config.scope == "generated" and block > 0
    prefill = _prefill(lm, prompts, config) if share else None
    out: list[list[str]] = []
    for begin in range(0, len(edits), per_call):
        group = list(edits[begin : begin + per_call])
        stacked = None if all(e is None for e in group) else EditStack(group, rows=block)
        if prefill is None:
            wide = replace(config, batch_size=max(config.batch_size, block * len(group)))
            answers = generate_answers(lm, list(prompts) * len(group), config=wide, edit=stacked)
        else:
            answers = _generate_from_prefill(lm, prefill, len(group), stacked, config)
        out.extend(answers[k * block : (k + 1) * block] for k in range(len(group)))
    return out


@dataclass
class _Prefill:
    """The prompts' batch and the KV cache of all but their last token."""

    batch: dict[str, Tensor]  # input_ids, attention_mask: [n, prompt]
    cache: Any


def _prefill(lm: LoadedModel, prompts: Sequence[str], config: GenerationConfig) -> _Prefill | None:
    device = input_device(lm.model)
    batch = chat_inputs(lm.tokenizer, list(prompts), chat_template=config.chat_template)
    batch = {k: v.to(device) for k, v in batch.items()}
    if batch["input_ids"].shape[1] < 2:
        return None
    head = {k: v[:, :-1] for k, v in batch.items()}
    with torch.no_grad():
        output = lm.model(**head, position_ids=position_ids(head["attention_mask"]), use_cache=True)
    cache = output_cache(output)
    if not hasattr(cache, "batch_select_indices"):
        return None
    return _Prefill(batch, cache)


def _generate_from_prefill(
    lm: LoadedModel,
    prefill: _Prefill,
    copies: int,
    edit: Edit | None,
    config: GenerationConfig,
) -> list[str]:
    """Answers of ``copies`` blocks of the prefilled prompts, block-major, with ``edit`` at
    the generated positions only."""
    model = lm.model
    n, width = prefill.batch["input_ids"].shape
    cache = copy.deepcopy(prefill.cache)
    rows = torch.arange(n, device=prefill.batch["input_ids"].device).repeat(copies)  # [copies*n]
    cache.batch_select_indices(rows)
    batch = {k: v.repeat(copies, 1) for k, v in prefill.batch.items()}  # [copies*n, width]
    stops = stop_token_ids(model, lm.tokenizer)
    with edited(model, edit, "generated", prompt_length=width, stop_token_ids=stops):
        output = generate_ids(
            model,
            batch,
            config=config,
            pad_token_id=lm.tokenizer.pad_token_id,
            **{cache_argument(model): cache},
        )
    return _decode(lm, output[:, width:])
