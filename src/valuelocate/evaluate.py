"""Evaluating steering: questionnaire, judged answers, cost and leakage, with statistics.

Usage:

1. ``result = evaluate("runs/smol")`` loads the run's model (``manifest.json``) and neuron
   sets, and for every located dimension D, condition and gamma scores the model.
2. The results land in ``RUN_DIR/evaluation/``: ``results.json`` (the layout below),
   ``results.csv`` (the score rows, one per line) and ``answers.jsonl`` (every judged answer).
3. ``valuelocate evaluate RUN_DIR`` is the command line (:func:`evaluate_command`).

Results schema (``results.json``, format ``valuelocate.Evaluation`` version 1)
------------------------------------------------------------------------------

Top-level keys:

- ``format``: ``"valuelocate.Evaluation"``; ``version``: ``1``.
- ``model``: ``{"id", "source", "config_hash", "family", "num_layers", "neurons_per_layer"}``.
- ``options``: every option of the evaluation (:class:`EvaluateOptions`, as JSON).
- ``dimensions``: the steered dimensions, in order; ``scored_dimensions``: the four dimensions
  of the questionnaire; ``gammas``: the sweep; ``conditions``: :data:`CONDITIONS`;
  ``measures``: the measures present (``questionnaire``, ``judge:<name>`` per judge,
  ``perplexity_ratio``, ``degenerate_share``).
- ``prompt_baselines``: ``{dimension: {pole: prefix text}}``, the prefixes of the prompt-only
  conditions.
- ``scores``: a list of :class:`ScoreRow` objects (below), also written to ``results.csv``
  with the same field names as columns, one row per line.
- ``leakage``: a list of :class:`LeakageRow`: for each steered dimension, edit condition
  (``affirm``, ``oppose``) and gamma, the shift of every dimension's questionnaire score
  from ``none`` (the 4 x 4 matrix per gamma).
- ``judges``: ``{name: {"kind", "samples", "ratings", "malformed", "gibberish"}}``: totals of
  judge samples (valid ratings, outputs that could not be parsed and were dropped, and -1
  "gibberish" ratings).
- ``examples``: a list of :class:`Example`: the first few answers of each (steered
  dimension, condition, gamma), for the report.
- ``option_mass``: per condition, the mean next-token probability that the six answer
  letters held before renormalising (low: the model was not answering with a letter).
- ``warnings``: lines about choices forced on the evaluation (e.g. a random control drawn
  outside the steered dimension's sets only, when the located sets leave too few neurons).
- ``seconds``: wall time of the evaluation.

Conditions (:data:`CONDITIONS`):

- ``none``: the unedited model.
- ``affirm`` / ``oppose``: the study's steering edit toward that pole of D
  (:func:`valuelocate.edits.steering_edit`).
- ``random_affirm`` / ``random_oppose``: the random control edited the same way toward that
  pole, on as many neurons per layer drawn outside every located set
  (:func:`valuelocate.edits.random_control_edit`).
- ``prompt_affirm`` / ``prompt_oppose``: no edit; the prompt is prefixed with "Imagine you
  are someone who would say: ..." and one (seeded) description of that pole of D.

A :class:`ScoreRow` is one figure: ``measure`` on ``scored_dimension`` under ``condition`` at
``gamma`` when steering ``steered_dimension``:

- ``gamma`` is ``null`` for the conditions that do not depend on it (``none``,
  ``prompt_affirm``, ``prompt_oppose``): draw them as horizontal reference lines.
- ``none`` rows are repeated under every steered dimension (the judged prompts are D's), so
  that filtering on ``steered_dimension`` gives every condition.
- ``questionnaire``: one row per scored dimension (all four); the centred portrait score
  (mean expected answer 1..6 over the dimension's items minus the mean over all items), so 0
  is "as important as the person's average value". Units: the scored dimension's items.
- ``judge:<name>``: ``scored_dimension == steered_dimension``; the mean 1..5 rating of the
  answers to D's test prompts. Units: answers with a rating (``n_excluded`` counts answers
  left without one: every sample malformed or -1).
- ``perplexity_ratio``: only for edit conditions; the per-text perplexity of the neutral
  texts under the edit divided by the unedited one, averaged over texts.
  ``scored_dimension`` is ``null``. Units: neutral texts.
- ``degenerate_share``: the share of answers that are degenerate (see
  :func:`is_degenerate`); ``scored_dimension`` is ``null``. Units: answers.
- ``mean``: the figure; ``ci_low``/``ci_high``: the 95% percentile bootstrap interval over
  units (``bootstrap`` resamples, seeded); ``n``: the number of units.
- ``p_vs_random``: for ``affirm``/``oppose`` only (else ``null``): the two-sided paired
  sign-flip permutation p-value of the unit-wise difference from ``random_<pole>`` at the same
  gamma (same items, prompts or texts), ``(1 + #{|perm| >= |obs|}) / (1 + permutations)``.
- ``diff_vs_random``: the mean of that paired difference (``null`` where there is no p-value).
"""

from __future__ import annotations

import copy
import csv
import inspect
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import Tensor, nn

from valuelocate.architectures import ModelShape, Site, model_shape
from valuelocate.artifacts import (
    ArtifactError,
    atomic_write,
    load_neuron_sets,
    read_json,
    write_json,
)
from valuelocate.data import (
    ANSWER_SCALE,
    DIMENSIONS,
    POLES,
    QuestionnaireItem,
    SituationalPrompt,
    load_descriptions,
    load_prompts,
    load_questionnaire,
)
from valuelocate.hooks import SCOPES, Edit, Scope, edit_neurons
from valuelocate.judges import Judge, JudgeConfig, JudgeRating, build_judge
from valuelocate.llm import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, LLMError
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import (
    chat_inputs,
    format_prompts,
    has_chat_template,
    stop_token_ids,
)
from valuelocate.selection import Selection

Condition = Literal[
    "none",
    "affirm",
    "oppose",
    "random_affirm",
    "random_oppose",
    "prompt_affirm",
    "prompt_oppose",
]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)
# Conditions that edit neurons (and so depend on gamma); the others are computed once.
EDIT_CONDITIONS: tuple[Condition, ...] = ("affirm", "oppose", "random_affirm", "random_oppose")
RESULTS_FORMAT = "valuelocate.Evaluation"
RESULTS_VERSION = 1


@dataclass(frozen=True)
class ScoreRow:
    """One figure of the evaluation (a line of ``results.csv``); see the module docstring.

    Attributes:
        measure: ``questionnaire``, ``judge:<name>``, ``perplexity_ratio`` or
            ``degenerate_share``.
        steered_dimension: the dimension whose neurons (or prompt baseline) define the
            condition, and whose test prompts were answered.
        condition: one of :data:`CONDITIONS`.
        gamma: the steering strength; ``None`` for conditions that do not depend on it.
        scored_dimension: the dimension the figure is about; ``None`` for the cost measures.
        mean: the figure (mean over units).
        ci_low, ci_high: 95% bootstrap interval of ``mean``.
        n: units (items, answers or texts) behind the figure.
        n_excluded: units left without a value (judge: unrated answers).
        p_vs_random: paired permutation p-value against the random control (edits only).
        diff_vs_random: mean paired difference from the random control (edits only).
    """

    measure: str
    steered_dimension: str
    condition: str
    gamma: float | None
    scored_dimension: str | None
    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_excluded: int = 0
    p_vs_random: float | None = None
    diff_vs_random: float | None = None


@dataclass(frozen=True)
class LeakageRow:
    """The shift of one dimension's questionnaire score when steering another.

    Attributes:
        steered_dimension: the dimension steered.
        condition: ``affirm`` or ``oppose`` (the pole steered toward).
        gamma: the steering strength.
        scored_dimension: the dimension whose score moved.
        shift: score under the edit minus score under ``none`` (mean paired difference over
            the scored dimension's items).
        ci_low, ci_high: 95% paired bootstrap interval of ``shift``.
        n: items.
    """

    steered_dimension: str
    condition: str
    gamma: float
    scored_dimension: str
    shift: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Example:
    """One answer, for the report.

    Attributes:
        steered_dimension, condition, gamma: as in :class:`ScoreRow`.
        prompt_id: the test prompt's id.
        prompt: the situational prompt as given (without a baseline prefix).
        answer: the model's answer.
        degenerate: whether :func:`is_degenerate` flags it.
    """

    steered_dimension: str
    condition: str
    gamma: float | None
    prompt_id: str
    prompt: str
    answer: str
    degenerate: bool


# =========================================================================== options


@dataclass(frozen=True)
class EvaluateOptions:
    """Everything that decides an evaluation's numbers (written into ``results.json``).

    Attributes:
        gammas: steering strengths swept by the edit conditions.
        dimensions: steered dimensions; ``None`` takes every dimension of the run.
        judge_prompts: test-split prompts answered per dimension (seeded draw).
        max_new_tokens: answer length.
        temperature: 0 for greedy answers, else seeded sampling at this temperature
            (reproducible for the same options).
        repetition_penalty: as in the locating run's generation (the study: 1.1).
        batch_size: prompts per forward or generate call.
        seed: prompt draw, baseline descriptions, edit draws, bootstrap and permutations.
        v, fraction, clamp: the steering rule's options (see :mod:`valuelocate.edits`).
        site: where the run located its neurons (read from its manifest by
            :func:`evaluate`); every edit is applied there.
        edit_scope: positions edited while answering (``generated``, as in the study). The
            questionnaire and the perplexity read the prompt's forward, so they always edit
            with scope ``all`` (scope ``generated`` could not change a next-token read).
        chat_template: use the model's chat template when it has one.
        bootstrap: resamples of every confidence interval.
        permutations: sign flips of every paired test (exact when ``2**n`` is smaller).
        examples: answers kept per (dimension, condition, gamma) for the report.
        min_distinct2, max_word_run, max_char_run: the degenerate-answer rule
            (:func:`is_degenerate`).
    """

    gammas: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    dimensions: tuple[str, ...] | None = None
    judge_prompts: int = 8
    max_new_tokens: int = 48
    temperature: float = 0.0
    repetition_penalty: float = 1.1
    batch_size: int = 40
    seed: int = 0
    v: str = "q95"
    fraction: float = 0.9
    clamp: bool = True
    edit_scope: Scope = "generated"
    site: Site = "act"
    chat_template: bool = True
    bootstrap: int = 1000
    permutations: int = 2000
    examples: int = 2
    min_distinct2: float = 0.5
    max_word_run: int = 3
    max_char_run: int = 12

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        if not self.gammas:
            raise ValueError("--gammas needs at least one value")
        if self.dimensions is not None:
            unknown = [d for d in self.dimensions if d not in DIMENSIONS]
            if unknown:
                raise ValueError(
                    f"Unknown dimension {unknown[0]!r}; expected some of: {', '.join(DIMENSIONS)}"
                )
        if self.judge_prompts < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("--judge-prompts, --max-new-tokens and --batch-size must be >= 1")
        if self.temperature < 0:
            raise ValueError("--temperature must be >= 0")
        if self.bootstrap < 1 or self.permutations < 1:
            raise ValueError("--bootstrap and --permutations must be >= 1")
        if self.edit_scope not in SCOPES:
            raise ValueError(f"Unknown scope {self.edit_scope!r}; expected one of {SCOPES}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["gammas"] = list(self.gammas)
        data["dimensions"] = None if self.dimensions is None else list(self.dimensions)
        return data


# =========================================================================== questionnaire

OPTION_LETTERS = "ABCDEF"
QUESTIONNAIRE_TEMPLATE = (
    "Below is a short description of a person. How much is this person like you?\n"
    "{options}\n"
    "Answer with one letter.\n\n"
    'Description: "{item}"'
)
# The item comes last, so that all items share a long common beginning: its keys and values
# are computed once per condition and reused (see next_token_logits).
# Appended to the questionnaire prompt when there is no chat template, so that a base model's
# next token is the letter.
RAW_ANSWER_CUE = "\nAnswer:"


def questionnaire_text(item: str, *, prefix: str = "", chat: bool = True) -> str:
    """The prompt of one portrait item, options labelled A-F.

    Args:
        item: the portrait text.
        prefix: a prompt-baseline prefix ("Imagine you are someone who ..."), or empty.
        chat: the prompt goes into a chat template (else it ends with ``Answer:``).

    Returns:
        The prompt text.
    """
    options = "\n".join(
        f"{letter}) {label}" for letter, label in zip(OPTION_LETTERS, ANSWER_SCALE, strict=True)
    )
    text = QUESTIONNAIRE_TEMPLATE.format(item=item.strip(), options=options)
    if not chat:
        text += RAW_ANSWER_CUE
    return prefix + text


@dataclass(frozen=True)
class OptionTokens:
    """The token ids that spell each answer letter as one token.

    Attributes:
        ids: per option A..F, the ids whose next-token probabilities are summed, ``[6][v]``.
        variants: which spellings are used: ``bare`` (``A``) and/or ``spaced`` (``" A"``,
            ``▁A``, ``ĠA``). A spelling is used only when all six letters have it as a single
            token, so every option is read the same way.
    """

    ids: tuple[tuple[int, ...], ...]
    variants: tuple[str, ...]


_SPACE_MARKS = ("▁", "Ġ", " ")


def option_token_ids(tokenizer: Any) -> OptionTokens:
    """Find the single tokens of the six answer letters, with and without a leading space.

    Candidates come from the vocabulary (``A``, ``▁A``, ``ĠA``) and from encoding ``"A"`` and
    ``" A"`` (tokenizers that add a leading space themselves); a candidate counts only if it
    is one known token (not the unknown token) whose text is the letter, alone or after one
    space mark.

    Args:
        tokenizer: a transformers tokenizer.

    Returns:
        The :class:`OptionTokens`.

    Raises:
        ValueError: some letter is not a single token in any spelling.

    Example:
        >>> option_token_ids(tokenizer).variants
        ('bare', 'spaced')
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    found: dict[str, list[set[int]]] = {"bare": [], "spaced": []}
    for letter in OPTION_LETTERS:
        candidates: set[int] = set()
        for token in (letter, *(mark + letter for mark in _SPACE_MARKS)):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != unk:
                candidates.add(token_id)
        for text in (letter, " " + letter):
            encoded = tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] != unk:
                candidates.add(int(encoded[0]))
        by_kind: dict[str, set[int]] = {"bare": set(), "spaced": set()}
        for token_id in candidates:
            token = tokenizer.convert_ids_to_tokens(token_id)
            if not isinstance(token, str):
                continue
            if token == letter:
                by_kind["bare"].add(token_id)
            elif len(token) == 2 and token[0] in _SPACE_MARKS and token[1] == letter:
                by_kind["spaced"].add(token_id)
        for kind, kind_ids in by_kind.items():
            found[kind].append(kind_ids)
    variants = tuple(kind for kind, per_letter in found.items() if all(per_letter))
    if not variants:
        raise ValueError(
            "The tokenizer has no single token for every answer letter A-F (with or without a "
            "leading space); the questionnaire cannot be read from next-token probabilities."
        )
    ids = tuple(
        tuple(sorted(set().union(*(found[kind][i] for kind in variants))))
        for i in range(len(OPTION_LETTERS))
    )
    return OptionTokens(ids=ids, variants=variants)


def option_probabilities(logits: Tensor, options: OptionTokens) -> tuple[Tensor, Tensor]:
    """Probabilities of the six options from next-token logits.

    Args:
        logits: ``[batch, vocab]`` next-token logits.
        options: the letters' token ids.

    Returns:
        ``(probs [batch, 6], mass [batch])``: the options' probabilities renormalised over
        the six, and the share of the full distribution that they held before.
    """
    full = torch.softmax(logits.double(), dim=-1)  # [batch, vocab]
    per_option = torch.stack(
        [full[:, list(ids)].sum(dim=-1) for ids in options.ids], dim=-1
    )  # [batch, 6]
    mass = per_option.sum(dim=-1)  # [batch]
    return per_option / mass.clamp(min=1e-300).unsqueeze(-1), mass


def expected_score(probs: Tensor) -> Tensor:
    """Expected answer on the 1..6 scale, ``[batch]``, from option probabilities ``[batch, 6]``."""
    scale = torch.arange(1, probs.shape[-1] + 1, dtype=probs.dtype, device=probs.device)
    return probs @ scale


def _position_ids(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding, ``[batch, seq]`` (as ``generate`` computes them)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _forward(model: nn.Module, batch: dict[str, Tensor], *, last_only: bool) -> Tensor:
    """Logits of one left-padded batch: ``[batch, vocab]`` (last position) or
    ``[batch, seq, vocab]``."""
    position_ids = _position_ids(batch["attention_mask"])
    if last_only:
        return _last_logits(model, **batch, position_ids=position_ids)
    return model(**batch, position_ids=position_ids).logits


def _last_logits(model: nn.Module, **kwargs: Any) -> Tensor:
    """``[batch, vocab]`` logits of the last position, computing only those when the model
    supports ``logits_to_keep`` (a 49k-token vocabulary over every position is large)."""
    try:
        logits = model(**kwargs, logits_to_keep=1).logits
    except TypeError:
        logits = model(**kwargs).logits
    return logits[:, -1, :]


def _edited(model: nn.Module, edit: Edit | None, scope: Scope, **kwargs: Any) -> Any:
    """``edit_neurons`` around a block, or nothing when there is no edit."""
    if edit is None:
        return nullcontext()
    _restart(edit)
    return edit_neurons(model, edit, scope=scope, **kwargs)


def _restart(edit: Edit) -> None:
    # Stochastic edits (the dynamic rule) restart their seeded draws, so that every
    # measurement of a condition sees the same sequence whatever ran before it.
    reset = getattr(edit, "reset", None)
    if callable(reset):
        reset()


def _token_lists(tokenizer: Any, texts: Sequence[str], chat_template: bool) -> list[list[int]]:
    """Token ids of each prompt exactly as :func:`chat_inputs` makes them, unpadded."""
    templated = chat_template and has_chat_template(tokenizer)
    formatted = format_prompts(tokenizer, list(texts), chat_template=chat_template)
    encoded = tokenizer(formatted, add_special_tokens=not templated)["input_ids"]
    return [list(map(int, ids)) for ids in encoded]


def _common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by every row, leaving each row at least one
    token of its own."""
    shortest = min(len(r) for r in rows)
    length = 0
    while length < shortest - 1 and all(r[length] == rows[0][length] for r in rows):
        length += 1
    return length


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """``(ids [b, s], mask [b, s])`` of token lists padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
    return ids, mask


def next_token_logits(
    lm: LoadedModel,
    texts: Sequence[str],
    *,
    edit: Edit | None = None,
    batch_size: int = 40,
    chat_template: bool = True,
    share_prefix: bool = True,
    min_shared: int = 8,
) -> Tensor:
    """Next-token logits after each prompt, with ``edit`` applied at every position.

    When the prompts share a beginning of at least ``min_shared`` tokens (the questionnaire's
    instructions), it runs once and its KV cache is reused by every batch of the prompts'
    own ends, padded between the shared part and their ends. The result equals separate
    forwards up to float rounding, at a fraction of the cost.

    Args:
        lm: the model.
        texts: the prompts (chat-templated when ``chat_template`` and the tokenizer has one).
        edit: an edit applied with scope ``all`` (both the shared part and the ends).
        batch_size: prompts per forward.
        chat_template: use the chat template when the tokenizer has one.
        share_prefix: reuse the shared beginning's cache (else full left-padded forwards).
        min_shared: the shortest shared beginning worth a cache.

    Returns:
        ``[len(texts), vocab]`` float32 logits on CPU.
    """
    model = lm.model
    device = next(model.parameters()).device
    pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    rows = _token_lists(lm.tokenizer, texts, chat_template)
    shared = _common_prefix_length(rows) if share_prefix and len(rows) > 1 else 0
    out = []
    with torch.no_grad(), _edited(model, edit, "all"):
        cache = None
        if shared >= min_shared:
            prefix = torch.tensor([rows[0][:shared]], device=device)  # [1, shared]
            output = model(input_ids=prefix, attention_mask=torch.ones_like(prefix), use_cache=True)
            cache = _output_cache(output)
            if not hasattr(cache, "batch_repeat_interleave"):
                cache = None
        for begin in range(0, len(rows), batch_size):
            chunk = rows[begin : begin + batch_size]
            if cache is None:
                ids, mask = _left_pad(chunk, pad_id)
                batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
                logits = _forward(model, batch, last_only=True)
            else:
                ids, mask = _left_pad([r[shared:] for r in chunk], pad_id)  # [b, s]
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(chunk))
                full_mask = torch.cat([torch.ones(len(chunk), shared, dtype=mask.dtype), mask], 1)
                positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)  # [b, s]
                logits = _last_logits(
                    model,
                    input_ids=ids.to(device),
                    attention_mask=full_mask.to(device),
                    position_ids=positions.to(device),
                    use_cache=True,
                    **{_cache_argument(model): past},
                )
            out.append(logits.float().cpu())  # [b, vocab]
    return torch.cat(out)


def _cache_argument(model: nn.Module) -> str:
    """The forward's name for the KV cache: ``cache`` (transformers 5) or ``past_key_values``."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _output_cache(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def questionnaire_scores(
    lm: LoadedModel,
    items: Sequence[QuestionnaireItem],
    *,
    options: OptionTokens,
    prefix: str = "",
    edit: Edit | None = None,
    batch_size: int = 40,
    chat_template: bool = True,
    share_prefix: bool = True,
) -> tuple[Tensor, Tensor]:
    """Expected answer (1..6) of each item, from the prompt's next-token distribution.

    Args:
        lm: the model.
        items: the portrait items.
        options: the answer letters' token ids (:func:`option_token_ids`).
        prefix: a prompt-baseline prefix, or empty.
        edit: an edit applied with scope ``all`` during the forward (``generated`` would
            never touch a next-token read from the prompt).
        batch_size: items per forward.
        chat_template: use the chat template when the tokenizer has one.
        share_prefix: compute the items' shared beginning once (see
            :func:`next_token_logits`).

    Returns:
        ``(scores [items], mass [items])``: expected answers and the probability mass the six
        options held before renormalising (a low mass means the model was not answering).
    """
    chat = chat_template and has_chat_template(lm.tokenizer)
    texts = [questionnaire_text(item.text, prefix=prefix, chat=chat) for item in items]
    logits = next_token_logits(
        lm,
        texts,
        edit=edit,
        batch_size=batch_size,
        chat_template=chat_template,
        share_prefix=share_prefix,
    )  # [items, vocab]
    probs, mass = option_probabilities(logits, options)
    return expected_score(probs), mass


def centred_scores(
    item_scores: Tensor, items: Sequence[QuestionnaireItem], dimension: str
) -> Tensor:
    """Schwartz's centred scores of one dimension's items: each item's score minus the mean
    over all items, ``[k]`` for the ``k`` items of ``dimension``. Their mean is the
    dimension's score."""
    chosen = [i for i, item in enumerate(items) if dimension in item.dimensions]
    return item_scores[chosen] - item_scores.mean()


# =========================================================================== cost

_NEUTRAL_FILE = Path(__file__).with_name("data") / "files" / "neutral.jsonl"


def load_neutral_texts(path: Path | None = None) -> list[str]:
    """The neutral texts whose perplexity measures an edit's cost (value-free facts and
    instructions, written by this project)."""
    lines = (path or _NEUTRAL_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def text_nll(
    lm: LoadedModel, texts: Sequence[str], *, edit: Edit | None = None, batch_size: int = 40
) -> Tensor:
    """Mean negative log-likelihood per predicted token of each text (raw text, no chat
    template), with ``edit`` applied at every position (scope ``all``).

    Returns:
        ``[texts]`` float64; ``exp`` of it is the text's perplexity.
    """
    tokenizer = lm.tokenizer
    device = next(lm.model.parameters()).device
    out = []
    previous = tokenizer.padding_side
    for begin in range(0, len(texts), batch_size):
        tokenizer.padding_side = "left"
        try:
            batch = dict(
                tokenizer(
                    list(texts[begin : begin + batch_size]), return_tensors="pt", padding=True
                )
            )
        finally:
            tokenizer.padding_side = previous
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad(), _edited(lm.model, edit, "all"):
            logits = _forward(lm.model, batch, last_only=False)  # [b, seq, vocab]
        logits = logits[:, :-1].float()  # [b, seq-1, vocab]
        targets = batch["input_ids"][:, 1:]  # [b, seq-1]
        picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [b, seq-1]
        nll = (torch.logsumexp(logits, dim=-1) - picked).double()  # [b, seq-1]
        # A token is predicted when it and the token before it are real (not padding).
        mask = (batch["attention_mask"][:, 1:] * batch["attention_mask"][:, :-1]).double()
        out.append(((nll * mask).sum(-1) / mask.sum(-1).clamp(min=1)).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def distinct_n(words: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams of ``words`` (1.0 when there is none)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def is_degenerate(
    text: str, *, min_distinct2: float = 0.5, max_word_run: int = 3, max_char_run: int = 12
) -> bool:
    """Whether an answer is degenerate (the cost measure ``degenerate_share``).

    An answer is degenerate when any of these holds, on lower-cased whitespace words:

    - it is empty (no word);
    - it has at least 4 words and its distinct-2 (distinct word bigrams / bigrams) is below
      ``min_distinct2`` (loops such as "I think I think I think ...");
    - one word is repeated more than ``max_word_run`` times in a row ("no no no no");
    - one character is repeated more than ``max_char_run`` times in a row ("!!!!!!!...").

    Example:
        >>> is_degenerate("I like it. " * 6), is_degenerate("I would ask my family first.")
        (True, False)
    """
    words = text.lower().split()
    if not words:
        return True
    if len(words) >= 4 and distinct_n(words, 2) < min_distinct2:
        return True
    if _longest_run(words) > max_word_run:
        return True
    return _longest_run(list(text)) > max_char_run


def _longest_run(seq: Sequence[str]) -> int:
    best = run = 0
    previous: str | None = None
    for x in seq:
        run = run + 1 if x == previous else 1
        best = max(best, run)
        previous = x
    return best


# =========================================================================== answers


class _SeededSampling:
    """Logits processor that samples with its own ``torch.Generator`` and leaves only the
    drawn token finite, so greedy decoding picks it (reproducible without global seeding)."""

    def __init__(self, temperature: float, generator: torch.Generator) -> None:
        self.temperature = temperature
        self.generator = generator

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)  # [b, vocab]
        choice = torch.multinomial(probs.cpu(), 1, generator=self.generator).to(scores.device)
        return torch.full_like(scores, float("-inf")).scatter_(1, choice, 0.0)


def generate_answers(
    lm: LoadedModel,
    prompts: Sequence[str],
    *,
    options: EvaluateOptions,
    edit: Edit | None = None,
) -> list[str]:
    """Answers to ``prompts`` (greedy, or seeded sampling), with ``edit`` applied at
    ``options.edit_scope``.

    Returns:
        One answer per prompt, special tokens removed.
    """
    model: Any = lm.model
    tokenizer = lm.tokenizer
    device = next(model.parameters()).device
    stops = stop_token_ids(model, tokenizer)
    answers: list[str] = []
    for number, begin in enumerate(range(0, len(prompts), options.batch_size)):
        batch = chat_inputs(
            tokenizer,
            list(prompts[begin : begin + options.batch_size]),
            chat_template=options.chat_template,
        )
        batch = {k: v.to(device) for k, v in batch.items()}
        processors = []
        if options.temperature > 0:
            generator = torch.Generator().manual_seed(options.seed * 1000 + number)
            processors.append(_SeededSampling(options.temperature, generator))
        with (
            torch.no_grad(),
            _edited(model, edit, options.edit_scope, stop_token_ids=stops),
        ):
            output = model.generate(
                **batch,
                max_new_tokens=options.max_new_tokens,
                do_sample=False,
                repetition_penalty=options.repetition_penalty,
                logits_processor=processors,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[:, batch["input_ids"].shape[1] :]  # [b, new]
        answers.extend(tokenizer.decode(row, skip_special_tokens=True).strip() for row in new)
    return answers


@dataclass
class StackedEdit:
    """Different edits on consecutive blocks of rows of one batch (an :class:`Edit`).

    Block ``k`` (rows ``k * block`` to ``(k + 1) * block - 1``) gets ``edits[k]``; a ``None``
    block is left as it is. Each sub-edit sees only its own rows, so its result is the same
    as in a batch of its own (a stochastic edit draws once per forward call either way).

    Attributes:
        edits: one edit (or ``None``) per block.
        block: rows per block.
    """

    edits: Sequence[Edit | None]
    block: int
    _layers: list[set[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._layers = [set() if e is None else set(e.layers()) for e in self.edits]

    def layers(self) -> Iterable[int]:
        return sorted(set().union(*self._layers))

    def reset(self) -> None:
        """Restart every sub-edit's draws."""
        for edit in self.edits:
            if edit is not None:
                _restart(edit)

    def edit(self, layer: int, values: Tensor) -> tuple[Tensor, Tensor]:
        # values: [blocks * block, seq, neurons]
        parts = []
        for k, edit in enumerate(self.edits):
            if edit is not None and layer in self._layers[k]:
                rows = slice(k * self.block, (k + 1) * self.block)
                parts.append((rows, *edit.edit(layer, values[rows])))
        index = torch.unique(torch.cat([p[1].to(values.device) for p in parts]))  # [m], sorted
        new = values.index_select(-1, index)  # [batch, seq, m], a copy
        for rows, sub_index, sub_values in parts:
            where = torch.searchsorted(index, sub_index.to(values.device))  # [k]
            new[rows].index_copy_(-1, where, sub_values.to(new.dtype))
        return index, new


def generate_stacked(
    lm: LoadedModel,
    prompts: Sequence[str],
    edits: Sequence[Edit | None],
    *,
    options: EvaluateOptions,
    share_prefill: bool = True,
) -> list[list[str]]:
    """Answers to the same ``prompts`` under several edits, stacked into wide batches.

    Settings are stacked ``batch_size // len(prompts)`` at a time, each block of rows with its
    own edit (:class:`StackedEdit`). With ``edit_scope="generated"`` the prompts' forward is
    never edited, so it is computed once (all but the last prompt token) and its KV cache is
    copied to every block: only the answers are computed per setting. Greedy answers are the
    same as separate :func:`generate_answers` calls (``tests/test_evaluate.py``).

    Args:
        lm: the model.
        prompts: the prompts every setting answers.
        edits: per setting, its edit or ``None``.
        options: generation options.
        share_prefill: reuse the unedited prompt cache (only with scope ``generated``).

    Returns:
        Per setting, its answers.
    """
    block = len(prompts)
    per_call = max(1, options.batch_size // max(block, 1))
    share = share_prefill and options.edit_scope == "generated" and block > 0
    prefill = _prefill(lm, prompts, options) if share else None
    out: list[list[str]] = []
    for begin in range(0, len(edits), per_call):
        group = list(edits[begin : begin + per_call])
        stacked = None if all(e is None for e in group) else StackedEdit(group, block)
        if prefill is None:
            wide = replace(options, batch_size=max(options.batch_size, block * len(group)))
            answers = generate_answers(lm, list(prompts) * len(group), options=wide, edit=stacked)
        else:
            answers = _generate_from_prefill(lm, prefill, len(group), stacked, options)
        out.extend(answers[k * block : (k + 1) * block] for k in range(len(group)))
    return out


@dataclass
class _Prefill:
    """The prompts' batch and the KV cache of all but their last token."""

    batch: dict[str, Tensor]  # input_ids, attention_mask: [n, prompt]
    cache: Any


def _prefill(lm: LoadedModel, prompts: Sequence[str], options: EvaluateOptions) -> _Prefill | None:
    device = next(lm.model.parameters()).device
    batch = chat_inputs(lm.tokenizer, list(prompts), chat_template=options.chat_template)
    batch = {k: v.to(device) for k, v in batch.items()}
    if batch["input_ids"].shape[1] < 2:
        return None
    head = {k: v[:, :-1] for k, v in batch.items()}
    with torch.no_grad():
        output = lm.model(
            **head, position_ids=_position_ids(head["attention_mask"]), use_cache=True
        )
    cache = _output_cache(output)
    if not hasattr(cache, "batch_select_indices"):
        return None
    return _Prefill(batch, cache)


def _generate_from_prefill(
    lm: LoadedModel,
    prefill: _Prefill,
    copies: int,
    edit: Edit | None,
    options: EvaluateOptions,
) -> list[str]:
    """Answers of ``copies`` blocks of the prefilled prompts, block-major, with ``edit`` at
    the generated positions only."""
    model: Any = lm.model
    tokenizer = lm.tokenizer
    n, width = prefill.batch["input_ids"].shape
    cache = copy.deepcopy(prefill.cache)
    rows = torch.arange(n, device=prefill.batch["input_ids"].device).repeat(copies)  # [copies*n]
    cache.batch_select_indices(rows)
    batch = {k: v.repeat(copies, 1) for k, v in prefill.batch.items()}  # [copies*n, width]
    stops = stop_token_ids(model, tokenizer)
    context: Any = nullcontext()
    if edit is not None:
        _restart(edit)
        context = edit_neurons(
            model, edit, scope="generated", prompt_length=width, stop_token_ids=stops
        )
    processors = []
    if options.temperature > 0:
        generator = torch.Generator().manual_seed(options.seed * 1000)
        processors.append(_SeededSampling(options.temperature, generator))
    with torch.no_grad(), context:
        output = model.generate(
            **batch,
            max_new_tokens=options.max_new_tokens,
            do_sample=False,
            repetition_penalty=options.repetition_penalty,
            logits_processor=processors,
            pad_token_id=tokenizer.pad_token_id,
            **{_cache_argument(model): cache},
        )
    new = output[:, width:]  # [copies*n, new]
    return [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]


PROMPT_BASELINE_TEMPLATE = (
    'Imagine you are someone who would say: "{description}" Answer as this person would.\n\n'
)


def prompt_baselines(dimensions: Sequence[str], *, seed: int = 0) -> dict[str, dict[str, str]]:
    """The prompt-only baselines' prefixes: per dimension and pole, one seeded description.

    Returns:
        ``{dimension: {pole: prefix}}``.
    """
    out: dict[str, dict[str, str]] = {}
    for dimension in dimensions:
        out[dimension] = {}
        for pole in POLES:
            descriptions = load_descriptions(dimension=dimension, pole=pole)
            chosen = random.Random(f"{seed}:{dimension}:{pole}").choice(descriptions)
            out[dimension][pole] = PROMPT_BASELINE_TEMPLATE.format(description=chosen.text.strip())
    return out


def judge_test_prompts(dimension: str, count: int, *, seed: int = 0) -> list[SituationalPrompt]:
    """A seeded draw of ``count`` test-split prompts of ``dimension`` (never the search split
    that located the neurons)."""
    pool = load_prompts(dimension=dimension, split="test")
    rng = random.Random(f"{seed}:{dimension}:test")
    return rng.sample(pool, min(count, len(pool)))


# =========================================================================== statistics


def bootstrap_ci(
    values: Tensor | Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    Args:
        values: the units' values ``[n]``; NaN entries are left out.
        resamples: bootstrap resamples (seeded).
        seed: seed of the resampling.
        level: coverage of the interval.

    Returns:
        ``(low, high)``; ``(nan, nan)`` without values, ``(x, x)`` with one.

    Example:
        >>> bootstrap_ci([1.0, 2.0, 3.0, 4.0], resamples=2000)
        (1.75, 3.25)
    """
    x = _finite(values)
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)  # [resamples]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_permutation_pvalue(
    a: Tensor | Sequence[float],
    b: Tensor | Sequence[float],
    *,
    permutations: int = 2000,
    seed: int = 0,
) -> float:
    """Two-sided paired sign-flip permutation test of ``mean(a - b) == 0``.

    Pairs where either value is NaN are left out. Under the null each difference is as
    likely positive as negative; the statistic is ``|mean(d)|``. With ``2**n <= permutations``
    every sign pattern is enumerated (exact p); else ``permutations`` random patterns give
    ``(1 + #{|perm| >= |obs|}) / (1 + permutations)``.

    Args:
        a, b: paired values ``[n]`` (same items, prompts or texts).
        permutations: random sign patterns (seeded).
        seed: seed of the patterns.

    Returns:
        The p-value in (0, 1]; 1.0 when there is no pair or every difference is zero.
    """
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.shape != xb.shape:
        raise ValueError(f"Paired values differ in shape: {xa.shape} vs {xb.shape}")
    keep = np.isfinite(xa) & np.isfinite(xb)
    d = xa[keep] - xb[keep]
    if d.size == 0:
        return 1.0
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if 2**d.size <= permutations:
        patterns = ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
        stats = np.abs((patterns * d).mean(axis=1))
        return float((stats >= observed - tolerance).mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(permutations, d.size))
    stats = np.abs((signs * d).mean(axis=1))
    return float((1 + (stats >= observed - tolerance).sum()) / (1 + permutations))


def _finite(values: Tensor | Sequence[float]) -> np.ndarray:
    x = np.asarray(values.tolist() if isinstance(values, Tensor) else values, dtype=np.float64)
    return x[np.isfinite(x)]


# =========================================================================== the run

# (dimension, condition, gamma); gamma is None for conditions that do not depend on it.
SettingKey = tuple[str, str, float | None]
# Builds the edit of one condition: (dimension, condition, gamma) -> Edit.
EditFactory = Callable[[str, str, float], Edit]


@dataclass
class Measured:
    """The raw measurements of one setting (per unit, before statistics).

    Attributes:
        item_scores: expected answer 1..6 per questionnaire item, ``[items]``.
        option_mass: the six options' probability mass per item, ``[items]``.
        text_nll: mean NLL per token of each neutral text, ``[texts]`` (edits only).
        prompts: the answered test prompts.
        answers: the answers, one per prompt.
        ratings: judge name -> one :class:`JudgeRating` per answer.
    """

    item_scores: Tensor
    option_mass: Tensor
    text_nll: Tensor | None
    prompts: list[SituationalPrompt]
    answers: list[str]
    ratings: dict[str, list[JudgeRating]] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    """What :func:`evaluate` computed and wrote.

    Attributes:
        run_dir: the run evaluated.
        path: ``RUN_DIR/evaluation/results.json``.
        data: the JSON written (see the module docstring).
        scores, leakage, examples: the rows, as dataclasses.
    """

    run_dir: Path
    path: Path
    data: dict[str, Any]
    scores: list[ScoreRow]
    leakage: list[LeakageRow]
    examples: list[Example]

    def select(self, **where: Any) -> list[ScoreRow]:
        """Score rows whose fields equal ``where`` (e.g. ``measure="questionnaire"``)."""
        return [r for r in self.scores if all(getattr(r, k) == v for k, v in where.items())]


def steering_edits(
    selections: Mapping[str, Selection],
    options: EvaluateOptions,
    *,
    warnings: list[str] | None = None,
) -> EditFactory:
    """The default :data:`EditFactory`: :func:`valuelocate.edits.steering_edit` for
    ``affirm``/``oppose`` and :func:`valuelocate.edits.random_control_edit` (random neurons
    outside every located set) for ``random_affirm``/``random_oppose``.

    When a layer has too few neurons outside the located sets of all dimensions (large sets
    from a small run), the control is drawn outside the steered dimension's own sets only,
    and a line is added to ``warnings`` (written into ``results.json``)."""
    from valuelocate.edits import random_control_edit, steering_edit

    def random_control(dimension: str, pole: str, gamma: float) -> Edit:
        kwargs: dict[str, Any] = {
            "seed": options.seed,
            "v": options.v,
            "fraction": options.fraction,
            "clamp": options.clamp,
            "site": options.site,
        }
        selection = selections[dimension]
        try:
            return random_control_edit(
                selection, pole, gamma, exclude=list(selections.values()), **kwargs
            )
        except ValueError as exc:
            note = (
                f"random control of {dimension}: drawn outside {dimension}'s own neuron sets "
                f"only, not outside every dimension's ({exc})"
            )
            if warnings is not None and note not in warnings:
                warnings.append(note)
            return random_control_edit(selection, pole, gamma, exclude=(), **kwargs)

    def make(dimension: str, condition: str, gamma: float) -> Edit:
        selection = selections[dimension]
        if condition in ("affirm", "oppose"):
            return steering_edit(
                selection,
                condition,
                gamma,
                v=options.v,  # type: ignore[arg-type]
                fraction=options.fraction,
                seed=options.seed,
                clamp=options.clamp,
                site=options.site,
            )
        if condition in ("random_affirm", "random_oppose"):
            return random_control(dimension, condition.removeprefix("random_"), gamma)
        raise ValueError(f"Condition {condition!r} edits no neuron")

    return make


def settings(dimensions: Sequence[str], gammas: Sequence[float]) -> list[SettingKey]:
    """Every (dimension, condition, gamma) evaluated, in run order."""
    out: list[SettingKey] = []
    for dimension in dimensions:
        for condition in CONDITIONS:
            if condition in EDIT_CONDITIONS:
                out.extend((dimension, condition, float(g)) for g in gammas)
            else:
                out.append((dimension, condition, None))
    return out


def evaluate(
    run_dir: str | Path,
    *,
    lm: LoadedModel | None = None,
    gammas: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
    dimensions: Sequence[str] | None = None,
    judges: Sequence[str | Judge] = ("embedding",),
    judge_prompts: int = 8,
    max_new_tokens: int = 48,
    seed: int = 0,
    temperature: float = 0.0,
    repetition_penalty: float = 1.1,
    batch_size: int = 40,
    edit_scope: Scope = "generated",
    v: str = "q95",
    fraction: float = 0.9,
    clamp: bool = True,
    chat_template: bool = True,
    bootstrap: int = 1000,
    permutations: int = 2000,
    examples: int = 2,
    judge_config: JudgeConfig | None = None,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    edit_factory: EditFactory | None = None,
    show_progress: bool = True,
) -> EvaluationResult:
    """Evaluate steering on a located run and write ``RUN_DIR/evaluation/``.

    Args:
        run_dir: a finished ``valuelocate locate`` run.
        lm: the loaded model; by default ``model`` or the run's model (``manifest.json``).
        gammas: the steering strengths swept.
        dimensions: steered dimensions (default: every dimension of the run).
        judges: judge specs (``embedding``, ``openai:MODEL``, ``hf:MODEL``) or judges.
        judge_prompts: test prompts answered per dimension.
        max_new_tokens: answer length.
        seed: every random choice of the evaluation.
        temperature, repetition_penalty, batch_size, edit_scope, v, fraction, clamp,
            chat_template, bootstrap, permutations, examples: see :class:`EvaluateOptions`.
        judge_config: options of the judges (endpoint, key variable, samples).
        model, device, dtype: override the run's model id, and where and how to load it.
        edit_factory: builds each edit condition's edit (default :func:`steering_edits`).
        show_progress: draw a rich progress bar on stderr.

    Returns:
        The :class:`EvaluationResult`; the files are written atomically.

    Example:
        >>> result = evaluate("runs/smol", gammas=(0, 1, 2), judge_prompts=4)
        >>> result.select(measure="questionnaire", condition="affirm", gamma=2.0)
    """
    started = time.monotonic()
    options = EvaluateOptions(
        gammas=tuple(float(g) for g in gammas),
        dimensions=None if dimensions is None else tuple(dimensions),
        judge_prompts=judge_prompts,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        repetition_penalty=repetition_penalty,
        batch_size=batch_size,
        seed=seed,
        v=v,
        fraction=fraction,
        clamp=clamp,
        edit_scope=edit_scope,
        chat_template=chat_template,
        bootstrap=bootstrap,
        permutations=permutations,
        examples=examples,
    )
    options.validate()
    run_dir = Path(run_dir)
    manifest = read_json(run_dir / "manifest.json")
    # Edit the neurons where they were located.
    options = replace(options, site=manifest.get("options", {}).get("site", "act"))
    if lm is None:
        run_options = manifest.get("options", {})
        lm = load_model(
            model or manifest["model"]["id"],
            dtype=dtype or run_options.get("dtype", "float32"),
            device=device,
            revision=manifest["model"].get("revision"),
        )
    shape = model_shape(lm.model)
    selections = load_neuron_sets(run_dir, expect=shape)
    _check_same_model(manifest, lm, run_dir)
    chosen = list(options.dimensions or selections)
    missing = [d for d in chosen if d not in selections]
    if missing:
        raise ValueError(
            f"{run_dir} has no neurons for {missing[0]!r}; it located: {', '.join(selections)}"
        )
    config = judge_config or JudgeConfig(seed=seed, device=device)
    built = [build_judge(j, config) if isinstance(j, str) else j for j in judges]
    names = [j.name for j in built]
    if len(set(names)) != len(names):
        raise ValueError(f"Two judges share a name: {names}")
    warnings: list[str] = []
    make_edit = edit_factory or steering_edits(selections, options, warnings=warnings)

    baselines = prompt_baselines(chosen, seed=seed)
    keys = settings(chosen, options.gammas)
    with _progress(show_progress) as bar:
        groups = len(_generation_groups(keys))
        task = bar.add_task("evaluating", total=len(keys) + groups + len(built) * len(chosen))
        measured = _measure_all(lm, keys, baselines, make_edit, options, bar, task)
        for judge in built:
            for dimension in chosen:
                bar.update(task, description=f"judge {judge.name} {dimension}")
                _judge_dimension(judge, dimension, measured)
                bar.advance(task)
    return write_results(
        run_dir,
        lm=lm,
        shape=shape,
        options=options,
        dimensions=chosen,
        judges=built,
        baselines=baselines,
        measured=measured,
        seconds=time.monotonic() - started,
        warnings=warnings,
    )


def _check_same_model(manifest: Mapping[str, Any], lm: LoadedModel, run_dir: Path) -> None:
    expected = manifest.get("model", {}).get("config_hash")
    if expected and lm.config_hash != expected:
        raise ArtifactError(
            f"The model given is not the one {run_dir} was located with (config hashes "
            "differ); evaluate with the run's model."
        )


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )


def _measure_all(
    lm: LoadedModel,
    keys: Sequence[SettingKey],
    baselines: Mapping[str, Mapping[str, str]],
    make_edit: EditFactory,
    options: EvaluateOptions,
    bar: Progress,
    task: TaskID,
) -> dict[SettingKey, Measured]:
    """Questionnaire, perplexity and answers of every setting (no judging yet).

    The unedited questionnaire and perplexity are computed once and shared; the answers of
    several settings of one dimension are generated in one batch (:class:`StackedEdit`),
    which amortises the decoding steps on a CPU."""
    items = load_questionnaire()
    letters = option_token_ids(lm.tokenizer)
    neutral = load_neutral_texts()
    prompts = {
        d: judge_test_prompts(d, options.judge_prompts, seed=options.seed)
        for d in dict.fromkeys(k[0] for k in keys)
    }

    def questionnaire(prefix: str = "", edit: Edit | None = None) -> tuple[Tensor, Tensor]:
        return questionnaire_scores(
            lm,
            items,
            options=letters,
            prefix=prefix,
            edit=edit,
            batch_size=options.batch_size,
            chat_template=options.chat_template,
        )

    none_scores, none_mass = questionnaire()
    base_nll = text_nll(lm, neutral, batch_size=options.batch_size)
    out: dict[SettingKey, Measured] = {}
    edits: dict[SettingKey, Edit | None] = {}
    prefixes: dict[SettingKey, str] = {}
    for key in keys:
        dimension, condition, gamma = key
        bar.update(task, description=f"{dimension} {condition} {'' if gamma is None else gamma}")
        edit: Edit | None = None
        prefix = ""
        nll: Tensor | None = None
        if condition == "none":
            scores, mass, nll = none_scores, none_mass, base_nll
        elif condition.startswith("prompt_"):
            prefix = baselines[dimension][condition.removeprefix("prompt_")]
            scores, mass = questionnaire(prefix)
        else:
            assert gamma is not None
            edit = make_edit(dimension, condition, gamma)
            scores, mass = questionnaire(edit=edit)
            nll = text_nll(lm, neutral, edit=edit, batch_size=options.batch_size)
        edits[key], prefixes[key] = edit, prefix
        out[key] = Measured(scores, mass, nll, list(prompts[dimension]), [])
        bar.advance(task)
    for name, group in _generation_groups(keys).items():
        bar.update(task, description=f"answering {name}")
        questions = [prefixes[group[0]] + p.text for p in prompts[group[0][0]]]
        answers = generate_stacked(lm, questions, [edits[k] for k in group], options=options)
        for key, group_answers in zip(group, answers, strict=True):
            out[key].answers = group_answers
        bar.advance(task)
    return out


def _generation_groups(keys: Sequence[SettingKey]) -> dict[str, list[SettingKey]]:
    """Settings that answer the same prompts: per dimension, the unedited and the edited
    ones together, and each prompt baseline on its own (its prompts carry a prefix)."""
    groups: dict[str, list[SettingKey]] = {}
    for key in keys:
        dimension, condition, _ = key
        name = f"{dimension} {condition}" if condition.startswith("prompt_") else dimension
        groups.setdefault(name, []).append(key)
    return groups


def _judge_dimension(judge: Judge, dimension: str, measured: dict[SettingKey, Measured]) -> None:
    """Rate every answer given to ``dimension``'s prompts, in one call (batched judges)."""
    keys = [k for k in measured if k[0] == dimension]
    questions = [p.text for k in keys for p in measured[k].prompts]
    answers = [a for k in keys for a in measured[k].answers]
    ratings = judge.rate(dimension, questions, answers)
    start = 0
    for key in keys:
        count = len(measured[key].answers)
        measured[key].ratings[judge.name] = ratings[start : start + count]
        start += count


# =========================================================================== rows


def _unit_values(
    measure: str,
    m: Measured,
    scored: str | None,
    items: Sequence[QuestionnaireItem],
    options: EvaluateOptions,
    base: Measured,
) -> Tensor:
    """The per-unit values behind one figure, ``[units]`` float64 (NaN = no value)."""
    if measure == "questionnaire":
        assert scored is not None
        return centred_scores(m.item_scores, items, scored)
    if measure == "perplexity_ratio":
        assert m.text_nll is not None and base.text_nll is not None
        return torch.exp(m.text_nll - base.text_nll)
    if measure == "degenerate_share":
        flags = [is_degenerate(a, **_degenerate_options(options)) for a in m.answers]
        return torch.tensor(flags, dtype=torch.float64)
    name = measure.removeprefix("judge:")
    scores = [math.nan if r.score is None else r.score for r in m.ratings[name]]
    return torch.tensor(scores, dtype=torch.float64)


def _degenerate_options(options: EvaluateOptions) -> dict[str, Any]:
    return {
        "min_distinct2": options.min_distinct2,
        "max_word_run": options.max_word_run,
        "max_char_run": options.max_char_run,
    }


def score_rows(
    measured: Mapping[SettingKey, Measured],
    *,
    items: Sequence[QuestionnaireItem],
    judge_names: Sequence[str],
    options: EvaluateOptions,
) -> list[ScoreRow]:
    """Every :class:`ScoreRow` of the results, with CIs and the tests against the random
    control (see the module docstring)."""
    scored_dimensions = [d for d in DIMENSIONS if any(d in i.dimensions for i in items)]
    rows: list[ScoreRow] = []
    for key, m in measured.items():
        dimension, condition, gamma = key
        base = measured[(dimension, "none", None)]
        targets: list[tuple[str, str | None]] = [("questionnaire", s) for s in scored_dimensions]
        targets += [(f"judge:{name}", dimension) for name in judge_names]
        if condition in EDIT_CONDITIONS:
            targets.append(("perplexity_ratio", None))
        targets.append(("degenerate_share", None))
        control = measured.get((dimension, f"random_{condition}", gamma))
        for measure, scored in targets:
            values = _unit_values(measure, m, scored, items, options, base)
            reference = None
            if control is not None and condition in ("affirm", "oppose"):
                reference = _unit_values(measure, control, scored, items, options, base)
            rows.append(
                _row(measure, dimension, condition, gamma, scored, values, reference, options)
            )
    return rows


def _row(
    measure: str,
    dimension: str,
    condition: str,
    gamma: float | None,
    scored: str | None,
    values: Tensor,
    reference: Tensor | None,
    options: EvaluateOptions,
) -> ScoreRow:
    finite = values[torch.isfinite(values)]
    low, high = bootstrap_ci(finite, resamples=options.bootstrap, seed=options.seed)
    p_value = diff = None
    if reference is not None:
        p_value = paired_permutation_pvalue(
            values, reference, permutations=options.permutations, seed=options.seed
        )
        both = torch.isfinite(values) & torch.isfinite(reference)
        diff = float((values[both] - reference[both]).mean()) if bool(both.any()) else None
    return ScoreRow(
        measure=measure,
        steered_dimension=dimension,
        condition=condition,
        gamma=gamma,
        scored_dimension=scored,
        mean=float(finite.mean()) if finite.numel() else math.nan,
        ci_low=low,
        ci_high=high,
        n=int(finite.numel()),
        n_excluded=int(values.numel() - finite.numel()),
        p_vs_random=p_value,
        diff_vs_random=diff,
    )


def leakage_rows(
    measured: Mapping[SettingKey, Measured],
    *,
    items: Sequence[QuestionnaireItem],
    options: EvaluateOptions,
) -> list[LeakageRow]:
    """The shift of every dimension's questionnaire score from ``none`` when steering each
    dimension toward each pole, at each gamma (paired over the scored dimension's items)."""
    scored_dimensions = [d for d in DIMENSIONS if any(d in i.dimensions for i in items)]
    rows: list[LeakageRow] = []
    for (dimension, condition, gamma), m in measured.items():
        if condition not in ("affirm", "oppose") or gamma is None:
            continue
        base = measured[(dimension, "none", None)]
        for scored in scored_dimensions:
            shift = centred_scores(m.item_scores, items, scored) - centred_scores(
                base.item_scores, items, scored
            )
            low, high = bootstrap_ci(shift, resamples=options.bootstrap, seed=options.seed)
            rows.append(
                LeakageRow(
                    dimension,
                    condition,
                    gamma,
                    scored,
                    float(shift.mean()),
                    low,
                    high,
                    int(shift.numel()),
                )
            )
    return rows


def example_rows(
    measured: Mapping[SettingKey, Measured], options: EvaluateOptions
) -> list[Example]:
    """The first ``options.examples`` answers of every setting."""
    out = []
    for (dimension, condition, gamma), m in measured.items():
        for prompt, answer in list(zip(m.prompts, m.answers, strict=True))[: options.examples]:
            degenerate = is_degenerate(answer, **_degenerate_options(options))
            out.append(
                Example(dimension, condition, gamma, prompt.id, prompt.text, answer, degenerate)
            )
    return out


def _judge_totals(judges: Sequence[Judge], measured: Mapping[SettingKey, Measured]) -> dict:
    totals: dict[str, dict[str, Any]] = {}
    for judge in judges:
        ratings = [r for m in measured.values() for r in m.ratings.get(judge.name, [])]
        totals[judge.name] = {
            "kind": type(judge).__name__,
            "samples": int(getattr(judge, "samples", 1)),
            "ratings": sum(r.valid for r in ratings),
            "malformed": sum(r.malformed for r in ratings),
            "gibberish": sum(r.gibberish for r in ratings),
            **({"failures": judge.failure_counts()} if hasattr(judge, "failure_counts") else {}),
        }
    return totals


def write_results(
    run_dir: Path,
    *,
    lm: LoadedModel,
    shape: ModelShape,
    options: EvaluateOptions,
    dimensions: Sequence[str],
    judges: Sequence[Judge],
    baselines: Mapping[str, Mapping[str, str]],
    measured: Mapping[SettingKey, Measured],
    seconds: float,
    warnings: Sequence[str] = (),
) -> EvaluationResult:
    """Compute the rows and write ``results.json``, ``results.csv`` and ``answers.jsonl``
    (each atomically) under ``RUN_DIR/evaluation``."""
    items = load_questionnaire()
    names = [j.name for j in judges]
    scores = score_rows(measured, items=items, judge_names=names, options=options)
    leakage = leakage_rows(measured, items=items, options=options)
    examples = example_rows(measured, options)
    measures = ["questionnaire", *(f"judge:{n}" for n in names), "perplexity_ratio"]
    measures.append("degenerate_share")
    data: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "model": {
            "id": lm.model_id,
            "source": lm.source,
            "config_hash": lm.config_hash,
            "family": shape.family,
            "num_layers": shape.num_layers,
            "neurons_per_layer": shape.neurons_per_layer,
        },
        "options": options.to_json(),
        "dimensions": list(dimensions),
        "scored_dimensions": sorted(
            {r.scored_dimension for r in scores if r.measure == "questionnaire"},
            key=lambda d: DIMENSIONS.index(d or ""),
        ),
        "gammas": list(options.gammas),
        "conditions": list(CONDITIONS),
        "measures": measures,
        "prompt_baselines": {d: dict(p) for d, p in baselines.items()},
        "scores": [_json_row(r) for r in scores],
        "leakage": [asdict(r) for r in leakage],
        "judges": _judge_totals(judges, measured),
        "option_mass": _option_mass(measured),
        "examples": [asdict(e) for e in examples],
        "warnings": list(warnings),
        "seconds": round(seconds, 2),
    }
    out_dir = run_dir / "evaluation"
    path = out_dir / "results.json"
    write_json(path, data)
    atomic_write(out_dir / "results.csv", lambda tmp: _write_csv(tmp, scores))
    atomic_write(out_dir / "answers.jsonl", lambda tmp: _write_answers(tmp, measured, options))
    return EvaluationResult(run_dir, path, data, scores, leakage, examples)


def _json_row(row: ScoreRow) -> dict[str, Any]:
    # NaN is not JSON: a figure without units is written as null.
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(row).items()
    }


def _option_mass(measured: Mapping[SettingKey, Measured]) -> dict[str, float]:
    """Mean probability mass on the six answer letters, per condition (a sanity check: a low
    mass means the model did not answer the questionnaire with a letter)."""
    by_condition: dict[str, list[float]] = {}
    for (_, condition, _), m in measured.items():
        by_condition.setdefault(condition, []).append(float(m.option_mass.mean()))
    return {c: round(sum(v) / len(v), 6) for c, v in by_condition.items()}


def _write_csv(path: Path, rows: Sequence[ScoreRow]) -> None:
    columns = [f.name for f in fields(ScoreRow)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in _json_row(row).items()})


def _write_answers(
    path: Path, measured: Mapping[SettingKey, Measured], options: EvaluateOptions
) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for (dimension, condition, gamma), m in measured.items():
            for i, (prompt, answer) in enumerate(zip(m.prompts, m.answers, strict=True)):
                record = {
                    "steered_dimension": dimension,
                    "condition": condition,
                    "gamma": gamma,
                    "prompt_id": prompt.id,
                    "answer": answer,
                    "degenerate": is_degenerate(answer, **_degenerate_options(options)),
                    "judges": {name: asdict(r[i]) for name, r in m.ratings.items()},
                }
                handle.write(json.dumps(record) + "\n")


# =========================================================================== command line


def parse_gammas(text: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> ``(0.0, 0.5, 1.0)``.

    Raises:
        ValueError: an entry is not a number.
    """
    try:
        return tuple(float(g) for g in text.split(",") if g.strip())
    except ValueError as exc:
        raise ValueError(f"--gammas takes comma-separated numbers, got {text!r}") from exc


def print_results(result: EvaluationResult, console: Console) -> None:
    """A summary table: per steered dimension, condition and gamma, the steered dimension's
    questionnaire score and judge means, the perplexity ratio and the degenerate share."""
    from rich.table import Table

    measures = [m for m in result.data["measures"] if m != "questionnaire"]
    table = Table(title="Evaluation (mean [95% CI]; p vs random control)")
    for column in ("dimension", "condition", "gamma", "questionnaire", *measures):
        table.add_column(
            column, justify="left" if column in ("dimension", "condition") else "right"
        )
    by_key: dict[tuple[str, str, float | None, str], ScoreRow] = {}
    for row in result.scores:
        if row.scored_dimension in (None, row.steered_dimension):
            by_key[(row.steered_dimension, row.condition, row.gamma, row.measure)] = row
    seen = dict.fromkeys((r.steered_dimension, r.condition, r.gamma) for r in result.scores)
    for dimension, condition, gamma in seen:
        cells = []
        for measure in ("questionnaire", *measures):
            found = by_key.get((dimension, condition, gamma, measure))
            cells.append("" if found is None else _cell(found))
        table.add_row(dimension, condition, "" if gamma is None else f"{gamma:g}", *cells)
    console.print(table)


def _cell(row: ScoreRow) -> str:
    if row.n == 0:
        return "-"
    text = f"{row.mean:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    if row.p_vs_random is not None:
        text += f" p={row.p_vs_random:.3f}"
    return text


def evaluate_command(
    run_dir: Path = typer.Argument(..., help="A finished `valuelocate locate` run directory."),
    gammas: str = typer.Option(
        "0,0.5,1,1.5,2", help="Comma-separated steering strengths (the study: 0.1 to 2.0)."
    ),
    judge: list[str] = typer.Option(
        ["embedding"],
        "--judge",
        help=(
            "Judge, repeatable: embedding (offline, all-MiniLM-L6-v2), openai:MODEL (any "
            "OpenAI-compatible endpoint, see --judge-base-url), hf:MODEL (a local "
            "transformers model: default, a folder or a hub id)."
        ),
    ),
    dimensions: str = typer.Option(
        "all", help="Comma-separated steered dimensions, or 'all' (every located one)."
    ),
    judge_prompts: int = typer.Option(
        8, min=1, help="Test-split prompts answered per dimension and condition."
    ),
    max_new_tokens: int = typer.Option(48, min=1, help="Answer length in tokens."),
    temperature: float = typer.Option(
        0.0, min=0.0, help="0: greedy answers; else seeded sampling at this temperature."
    ),
    repetition_penalty: float = typer.Option(1.1, help="Generation repetition penalty."),
    batch_size: int = typer.Option(40, min=1, help="Prompts per forward or generate call."),
    edit_scope: str = typer.Option(
        "generated",
        help=(
            "Positions edited while answering: generated (the study), prompt or all. The "
            "questionnaire and perplexity always edit all positions."
        ),
    ),
    v: str = typer.Option("q95", help="Steering push per neuron: q95 (default) or p."),
    fraction: float = typer.Option(
        0.9, min=0.0, max=1.0, help="Share of pushed neurons edited per forward call."
    ),
    clamp: bool = typer.Option(
        True, "--clamp/--no-clamp", help="Clamp the other pole's neurons to min(a, 0)."
    ),
    seed: int = typer.Option(0, help="Seed of every random choice of the evaluation."),
    bootstrap: int = typer.Option(1000, min=1, help="Bootstrap resamples per interval."),
    permutations: int = typer.Option(2000, min=1, help="Sign flips per paired test."),
    examples: int = typer.Option(2, min=0, help="Example answers kept per setting."),
    judge_base_url: str = typer.Option(
        DEFAULT_BASE_URL, help="API root of the openai judge, e.g. http://localhost:8000/v1."
    ),
    judge_api_key_env: str = typer.Option(
        DEFAULT_API_KEY_ENV,
        help="Name of the environment variable that holds the openai judge's API key.",
    ),
    judge_samples: int = typer.Option(
        5, min=1, help="Ratings per answer for the openai and hf judges (the study: 20)."
    ),
    judge_temperature: float = typer.Option(1.0, min=0.0, help="Their sampling temperature."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Use this model instead of the run's (same architecture)."
    ),
    dtype: str | None = typer.Option(None, help="float32, bfloat16 ... (default: the run's)."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cpu)."),
    chat_template: bool = typer.Option(
        True, "--chat-template/--no-chat-template", help="Use the model's chat template."
    ),
) -> None:
    """Evaluate steering: questionnaire, judged answers, cost and leakage, with 95% CIs."""
    chosen = (
        None
        if dimensions.strip() in ("all", "")
        else tuple(d.strip() for d in dimensions.split(",") if d.strip())
    )
    config = JudgeConfig(
        base_url=judge_base_url,
        api_key_env=judge_api_key_env,
        samples=judge_samples,
        temperature=judge_temperature,
        device=device,
        seed=seed,
    )
    console = Console()
    try:
        result = evaluate(
            run_dir,
            gammas=parse_gammas(gammas),
            dimensions=chosen,
            judges=judge,
            judge_prompts=judge_prompts,
            max_new_tokens=max_new_tokens,
            seed=seed,
            temperature=temperature,
            repetition_penalty=repetition_penalty,
            batch_size=batch_size,
            edit_scope=edit_scope,  # type: ignore[arg-type]
            v=v,
            fraction=fraction,
            clamp=clamp,
            chat_template=chat_template,
            bootstrap=bootstrap,
            permutations=permutations,
            examples=examples,
            judge_config=config,
            model=model,
            device=device,
            dtype=dtype,
        )
    except LLMError as exc:  # the judge's endpoint failed: a user-fixable error
        raise ValueError(str(exc)) from None
    print_results(result, console)
    console.print(f"Results in [bold]{result.path.parent}[/] ({result.data['seconds']:.0f} s)")
