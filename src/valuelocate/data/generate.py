"""Writing new dataset items with an LLM: value descriptions and situational prompts.

The generator asks a model for a small JSON list of items per call, parses the answer
leniently, fills the fields it owns (id, dimension, pole, values, split ...), validates every
item with :func:`~valuelocate.data.schema.parse_record`, drops near-duplicates, and appends the
survivors to a JSON Lines file one fsync'd line at a time, so that a killed run loses at most
the line it was writing and a rerun of the same command resumes where it stopped.

Usage:

1. Pick a backend: :class:`HFBackend` (a local transformers model) or :class:`OpenAIBackend`
   (any OpenAI-compatible chat-completions endpoint).
2. Describe the run with a :class:`GenerationConfig`.
3. Call :func:`generate`; it returns a :class:`GenerationReport` with the counts written,
   rejected as malformed and rejected as duplicates, and whether the target was reached.

Example:
    >>> backend = HFBackend.load("default")
    >>> report = generate(GenerationConfig("descriptions", "conservation", 10, Path("d.jsonl")),
    ...                   backend)
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from valuelocate.data.builder import DOMAINS
from valuelocate.data.schema import (
    BASIC_VALUES,
    DIMENSIONS,
    OPPOSITE,
    POLES,
    SPLITS,
    Kind,
    Record,
    detect_kind,
    parse_record,
    record_to_dict,
)

Message = dict[str, str]

GENERATABLE_KINDS: tuple[str, ...] = ("descriptions", "prompts")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

DIMENSION_NAMES: dict[str, str] = {
    "openness_to_change": "Openness to Change",
    "conservation": "Conservation",
    "self_transcendence": "Self-Transcendence",
    "self_enhancement": "Self-Enhancement",
}

# Schwartz's short definitions, given to the model so that it aims at the right value.
VALUE_DEFINITIONS: dict[str, str] = {
    "self_direction": "independent thought and action: choosing, creating, exploring",
    "stimulation": "excitement, novelty and challenge in life",
    "hedonism": "pleasure and sensuous gratification for oneself",
    "achievement": "personal success through showing competence by social standards",
    "power": "social status and prestige, control or dominance over people and resources",
    "security": "safety, harmony and stability of society, of relationships and of self",
    "conformity": "restraint of actions and impulses that could upset others or break norms",
    "tradition": "respect for and acceptance of the customs and ideas of one's culture or faith",
    "benevolence": "preserving and enhancing the welfare of the people one is close to",
    "universalism": "understanding, tolerance and protection of the welfare of all people and "
    "of nature",
}

# Limits on an item's text; an item outside them is counted as malformed.
MIN_WORDS = 6
MAX_CHARS = 1200
# An item whose word 3-grams come from the request at least this often copies the
# instructions (small models recite the value definitions) instead of writing an item.
MAX_COPIED = 0.5

# HTTP statuses worth retrying: rate limits and server-side failures.
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 30.0


class GenerationError(RuntimeError):
    """The generator cannot go on; the message says why and what to do."""


class Backend(Protocol):
    """Anything that turns chat messages into ``n`` sampled completions."""

    def complete(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        n: int = 1,
        seed: int | None = None,
    ) -> list[str]:
        """Sample ``n`` completions of ``messages``.

        Args:
            messages: chat messages, ``[{"role": "system"|"user", "content": str}, ...]``.
            temperature: sampling temperature; 0 means greedy.
            max_tokens: the most new tokens per completion.
            n: how many completions.
            seed: makes the sampling reproducible where the backend can.

        Returns:
            The completions' texts (fewer than ``n`` if the backend returned fewer).
        """
        ...


# --------------------------------------------------------------------------- backends


@dataclass
class HFBackend:
    """A local transformers model; samples with its own seeded generator (no global RNG).

    Attributes:
        model: a ``*ForCausalLM`` module in eval mode.
        tokenizer: its tokenizer; its chat template is used when it has one.
    """

    model: Any
    tokenizer: Any

    @classmethod
    def load(cls, model_id: str, *, dtype: str = "float32", device: str | None = None) -> HFBackend:
        """Load ``model_id`` through :func:`valuelocate.models.load_model`.

        Args:
            model_id: ``default``, a local folder or a hub id.
            dtype: weights' dtype name.
            device: ``cpu``, ``cuda`` ...; the model's default when ``None``.

        Returns:
            The backend.
        """
        from valuelocate.models import load_model

        loaded = load_model(model_id, dtype=dtype, device=device)
        return cls(model=loaded.model, tokenizer=loaded.tokenizer)

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of ``messages``: the chat template if any, else a plain transcript.

        Args:
            messages: chat messages.

        Returns:
            The ids, ending where the assistant's answer begins.
        """
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        text = "\n\n".join(m["content"] for m in messages) + "\n\nAnswer:\n"
        return [int(i) for i in self.tokenizer(text)["input_ids"]]

    def complete(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        n: int = 1,
        seed: int | None = None,
    ) -> list[str]:
        """Sample ``n`` completions (see :class:`Backend`)."""
        import torch

        ids = self.prompt_ids(messages)
        # A prompt longer than the context keeps its end (the instructions on the answer's
        # format come last), leaving room for the answer.
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit:
            keep = max(1, int(limit) - max_tokens)
            ids = ids[-keep:]
            max_tokens = min(max_tokens, int(limit) - len(ids))
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([ids] * n, device=device)  # [n, prompt]; equal rows, no padding
        processors = []
        if temperature > 0:
            generator = torch.Generator(device=device)
            generator.manual_seed(0 if seed is None else seed)
            processors.append(_SeededSampler(temperature, generator))
        eos = self._eos_ids()
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos[0]
        with torch.no_grad():
            output = self.model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=False,
                max_new_tokens=max_tokens,
                logits_processor=processors,
                eos_token_id=eos,
                pad_token_id=pad,
            )
        new = output[:, input_ids.shape[1] :]  # [n, new]
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in new]

    def _eos_ids(self) -> list[int]:
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return [0]
        return [int(e) for e in eos] if isinstance(eos, list) else [int(eos)]


class _SeededSampler:
    """A logits processor that samples the next token with its own ``torch.Generator`` and
    leaves only that token finite, so that greedy decoding picks it. This keeps sampling
    reproducible without seeding torch's global RNG, while ``generate`` keeps its KV cache."""

    def __init__(self, temperature: float, generator: Any) -> None:
        self.temperature = temperature
        self.generator = generator

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)  # [n, vocab]
        choice = torch.multinomial(probs, 1, generator=self.generator)  # [n, 1]
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, choice, 0.0)


@dataclass
class OpenAIBackend:
    """Any OpenAI-compatible chat-completions endpoint, over the standard library's urllib.

    The API key is sent in the ``Authorization`` header only; it is kept out of ``repr`` and
    removed from every error message this class builds.

    Attributes:
        model: the model name the endpoint knows.
        base_url: the API root; requests go to ``{base_url}/chat/completions``.
        api_key: the key, or ``None`` for endpoints that need none.
        timeout: seconds to wait for one response.
        retries: further tries after a 429, a 5xx or a network error.
        backoff: seconds before the first retry; doubled after each.
        api_key_env: the variable the key came from, named in errors (never the key).
    """

    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    api_key_env: str | None = None

    @classmethod
    def from_env(
        cls,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        **kwargs: Any,
    ) -> OpenAIBackend:
        """Build a backend whose key is read from the environment variable ``api_key_env``.

        Args:
            model: the model name.
            base_url: the API root.
            api_key_env: the variable's name; an unset variable is an error for the default
                OpenAI URL and means "no key" for any other (local servers often need none).
            **kwargs: ``timeout``, ``retries``, ``backoff``.

        Returns:
            The backend.
        """
        key = os.environ.get(api_key_env) or None
        if key is None and base_url.rstrip("/") == DEFAULT_BASE_URL:
            raise GenerationError(
                f"The environment variable {api_key_env} holds no API key for {base_url}: set "
                "it, or name another variable with --api-key-env."
            )
        return cls(
            model=model,
            base_url=base_url.rstrip("/"),
            api_key=key,
            api_key_env=api_key_env,
            **kwargs,
        )

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise GenerationError(
                f"--base-url must start with http:// or https://, e.g. "
                f"http://localhost:8000/v1: got {self.base_url!r}"
            )

    @property
    def url(self) -> str:
        """The chat-completions URL."""
        return f"{self.base_url.rstrip('/')}/chat/completions"

    def complete(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        n: int = 1,
        seed: int | None = None,
    ) -> list[str]:
        """Request ``n`` completions (see :class:`Backend`). A 200 answer without usable
        choices yields an empty list, which the generator counts as a malformed answer."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if n != 1:  # some compatible servers reject the field; 1 is everyone's default
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        data = self._post(body)
        try:
            payload = json.loads(data)
            choices = payload["choices"]
            texts = [c.get("message", {}).get("content") or "" for c in choices]
        except (ValueError, KeyError, TypeError, AttributeError):
            return []
        return [t for t in texts if isinstance(t, str)]

    def _post(self, body: dict[str, Any]) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        raw = json.dumps(body).encode("utf-8")
        delay = self.backoff
        last = ""
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=raw, headers=headers, method="POST")
            wait = delay
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                detail = _body_snippet(exc, self._redact)
                if exc.code in (401, 403):
                    source = f" (from ${self.api_key_env})" if self.api_key_env else ""
                    raise GenerationError(
                        f"{self.base_url} refused the request (HTTP {exc.code}): the API key"
                        f"{source} is missing or wrong. {detail}"
                    ) from None
                if exc.code == 404:
                    raise GenerationError(
                        f"{self.url} answered HTTP 404: check --base-url (the API root, e.g. "
                        f"https://api.openai.com/v1) and --model {self.model!r}. {detail}"
                    ) from None
                if exc.code not in _RETRY_STATUSES:
                    raise GenerationError(
                        f"{self.base_url} answered HTTP {exc.code}. {detail}"
                    ) from None
                last = f"HTTP {exc.code}. {detail}"
                wait = max(delay, _retry_after(exc.headers.get("Retry-After")))
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = self._redact(f"{type(exc).__name__}: {reason}")
            if attempt < self.retries:
                time.sleep(wait)
                delay *= 2
        raise GenerationError(
            f"{self.base_url} failed {self.retries + 1} times; last: {last.strip()}"
        )

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


def _body_snippet(exc: urllib.error.HTTPError, redact: Callable[[str], str]) -> str:
    """The start of an error response's body, redacted before it is cut (so that no part of a
    key that a server echoes can survive at the cut)."""
    try:
        text = exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    text = " ".join(redact(text).split())
    return f"The server said: {text[:300]}" if text else ""


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


# --------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class Target:
    """What one model call is asked for: a dimension, a pole (descriptions) or a split
    (prompts), a basic value, and a domain (prompts)."""

    kind: str
    dimension: str
    value: str
    pole: str | None = None
    domain: str | None = None


_SYSTEM = (
    "You write items for ValueInsight, a dataset about human values built on Schwartz's theory "
    "of basic human values. You answer with valid JSON only, without any other text."
)


def _values_line(dimension: str) -> str:
    return ", ".join(
        f"{v.replace('_', '-')} ({VALUE_DEFINITIONS[v]})" for v in BASIC_VALUES[dimension]
    )


def build_messages(
    target: Target, *, per_call: int, examples: Sequence[str] = (), avoid: Sequence[str] = ()
) -> list[Message]:
    """The chat messages that ask for ``per_call`` items aimed at ``target``.

    Args:
        target: what to write.
        per_call: how many items the answer's JSON list should hold.
        examples: existing items of the same kind to show as style examples.
        avoid: existing items the model must not repeat or paraphrase.

    Returns:
        ``[system, user]`` messages.
    """
    dim = DIMENSION_NAMES[target.dimension]
    opp = DIMENSION_NAMES[OPPOSITE[target.dimension]]
    value = target.value.replace("_", "-")
    lines = [
        f"Higher-order value dimension: {dim}. Its basic values: {_values_line(target.dimension)}."
        f" It is opposed by {opp}.",
        "",
    ]
    if target.kind == "descriptions":
        if target.pole == "affirm":
            stance = (
                f"someone who holds the values of {dim} strongly, above all {value} "
                f"({VALUE_DEFINITIONS[target.value]})"
            )
        else:
            stance = (
                f"someone who rejects the values of {dim}, above all {value} "
                f"({VALUE_DEFINITIONS[target.value]}), and prefers what {opp} stands for"
            )
        lines += [
            f"Write {per_call} different value descriptions by {stance}.",
            "Each is a short first-person statement (1 or 2 sentences, 15 to 45 words) of what "
            "the person holds important and how it shows in their life. Vary the wording, the "
            "situations and the sentence shapes; do not name the value or the dimension.",
        ]
    else:
        lines += [
            f"Write {per_call} different situational prompts in which the basic value {value} "
            f"({VALUE_DEFINITIONS[target.value]}) matters, set in the life domain "
            f"'{(target.domain or '').replace('_', ' and ')}'.",
            "Each is a concrete real-world situation (2 to 4 sentences) followed by an open "
            "question asking what the reader thinks and what they would do. A prompt is "
            "neutral: it must not presuppose an answer or suggest which choice is right, and it "
            "must not use the words value, tradition, security, power, achievement, conformity "
            "or the name of the dimension, nor evaluative words such as exciting, boring or "
            "selfish. The text must end with a question mark.",
        ]
    if examples:
        lines += ["", "Examples of the style:"] + [f"- {json.dumps(e)}" for e in examples]
    if avoid:
        lines += ["", "Do not repeat or paraphrase these existing items:"]
        lines += [f"- {json.dumps(a)}" for a in avoid]
    lines += [
        "",
        f'Answer with a JSON list of {per_call} objects of the form {{"text": "..."}} and '
        "nothing else.",
    ]
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


# --------------------------------------------------------------------------- parsing


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TEXT_KEYS = ("text", "description", "prompt", "statement", "item")


def parse_answer(answer: str) -> list[Any] | None:
    """Read the JSON a model wrote, leniently: code fences and prose around the JSON are
    skipped, and ``{"items": [...]}`` or a single object are accepted as lists.

    Args:
        answer: the model's raw text.

    Returns:
        The decoded items, or ``None`` when the answer holds no JSON list or object.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(answer)] + [answer]
    decoder = json.JSONDecoder()
    for text in candidates:
        for start, char in enumerate(text):
            if char not in "[{":
                continue
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                inner = next((value[k] for k in ("items", "data", "results") if k in value), None)
                return inner if isinstance(inner, list) else [value]
            # A list of items holds strings or objects; "[1]" in prose is not an answer.
            if any(isinstance(v, (str, dict)) for v in value):
                return value
    return None


def item_text(item: Any) -> str | None:
    """The text of one decoded item: a string, or an object's ``text`` (or a synonym) field;
    for prompts written as ``{"situation", "question"}`` the two joined.

    Args:
        item: one element of :func:`parse_answer`'s list.

    Returns:
        The stripped text, or ``None`` when there is none.
    """
    if isinstance(item, str):
        return item.strip() or None
    if not isinstance(item, dict):
        return None
    for key in _TEXT_KEYS:
        if isinstance(item.get(key), str) and item[key].strip():
            return item[key].strip()
    situation, question = item.get("situation"), item.get("question")
    if isinstance(situation, str) and isinstance(question, str):
        return f"{situation.strip()} {question.strip()}".strip() or None
    return None


def text_problem(kind: str, text: str, dimension: str) -> str | None:
    """Why ``text`` is unusable as an item of ``kind``, or ``None`` when it is fine.

    Args:
        kind: ``descriptions`` or ``prompts``.
        text: the item's text.
        dimension: the item's dimension (prompts are checked for neutrality with the shipped
            builder's word list when it is importable).

    Returns:
        ``"fewer than 6 words"``, ``"longer than 1200 characters"``, ``"no question"`` or
        ``"not neutral"`` (a prompt that names a value or leads the answer), or ``None``.
    """
    if len(text.split()) < MIN_WORDS:
        return f"fewer than {MIN_WORDS} words"
    if len(text) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    if kind == "prompts":
        if "?" not in text:
            return "no question"
        if _neutrality_violations(text, dimension):
            return "not neutral"
    return None


def _neutrality_violations(text: str, dimension: str) -> list[str]:
    try:
        from valuelocate.data.builder import neutrality_violations
    except ImportError:
        return []
    return neutrality_violations(text, dimension)


# --------------------------------------------------------------------------- de-duplication


# Words as valuelocate.data.stats counts them (letters, digits, apostrophes), so that what the
# generator lets through also passes `valuelocate data stats`' near-duplicate check.
_WORD = re.compile(r"[a-z0-9']+")


def normalize_text(text: str) -> str:
    """Lower case, words only, single spaces: the key for exact duplicates."""
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, size: int = 3) -> frozenset[str]:
    """The set of word ``size``-grams of a text, each as a space-joined string (the whole text
    as one gram when it has fewer words)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return frozenset({" ".join(words)})
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """``|a & b| / |a | b|``; 0 for two empty sets."""
    shared = len(a & b)
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0


@dataclass
class Deduplicator:
    """Texts seen so far, with an inverted index of word 3-grams so that a near-duplicate check
    touches only the texts that share a gram with the candidate.

    Attributes:
        threshold: word 3-gram Jaccard similarity at or above which a text is a duplicate.
    """

    threshold: float = 0.5
    _exact: set[str] = field(default_factory=set)
    _sizes: list[int] = field(default_factory=list)  # number of grams of each text
    _index: dict[str, list[int]] = field(default_factory=dict)  # gram -> texts holding it

    def is_duplicate(self, text: str) -> bool:
        """Whether ``text`` matches a seen text exactly (after normalisation) or nearly."""
        if normalize_text(text) in self._exact:
            return True
        grams = shingles(text)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        for other, inter in shared.items():
            union = len(grams) + self._sizes[other] - inter
            if union and inter / union >= self.threshold:
                return True
        return False

    def add(self, text: str) -> None:
        """Remember ``text``."""
        self._exact.add(normalize_text(text))
        grams = shingles(text)
        position = len(self._sizes)
        self._sizes.append(len(grams))
        index = self._index
        for gram in grams:
            if gram in index:
                index[gram].append(position)
            else:
                index[gram] = [position]

    def __len__(self) -> int:
        return len(self._sizes)


def shipped_records(kind: str) -> list[Record]:
    """The shipped dataset's records of ``kind``, or ``[]`` when the package has no loader
    (yet) or its files cannot be read."""
    try:
        from valuelocate import data as shipped

        loader = shipped.load_descriptions if kind == "descriptions" else shipped.load_prompts
        return list(loader())
    except (ImportError, AttributeError, OSError, ValueError):
        return []


# --------------------------------------------------------------------------- the output file


@dataclass
class ExistingFile:
    """What an output file already holds.

    Attributes:
        records: its valid records, in file order.
        dropped_partial: a trailing unterminated line that was not a valid record and was cut.
    """

    records: list[Record]
    dropped_partial: bool = False


def read_existing(path: Path, kind: Kind) -> ExistingFile:
    """Read ``path`` for a resume. A last line without a newline is what an interrupted write
    leaves: if it is not a valid record it is dropped and the file rewritten atomically
    without it; if it is valid, the newline is added.

    Args:
        path: the output file (may not exist).
        kind: the kind being generated; records of another kind are an error.

    Returns:
        The file's records.

    Raises:
        GenerationError: a complete line is not a valid ``kind`` record (the file was not
            written by the generator, or was edited), or an id repeats.
    """
    if not path.exists():
        return ExistingFile([])
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records: list[Record] = []
    ids: set[str] = set()
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, why = _decode_line(line, kind)
        if record is None or record.id in ids:
            problems.append(f"{path}:{number}: {why or 'duplicate id'}")
        else:
            records.append(record)
            ids.add(record.id)
    if problems:
        shown = "; ".join(problems[:5])
        raise GenerationError(
            f"{path} holds lines that are not valid {kind} records ({shown}); fix them (see "
            "`valuelocate data validate`) or choose another --out."
        )
    if not tail.strip():
        return ExistingFile(records)
    record, _ = _decode_line(tail, kind)
    if record is not None and record.id not in ids:
        records.append(record)
        _rewrite(path, raw + b"\n")
        return ExistingFile(records)
    _rewrite(path, raw[: len(raw) - len(tail)])
    return ExistingFile(records, dropped_partial=True)


def _decode_line(line: bytes, kind: Kind) -> tuple[Record | None, str]:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return None, f"invalid JSON ({exc})"
    if isinstance(obj, dict) and detect_kind(obj) not in (kind, None):
        return None, f"a {detect_kind(obj)} record, not {kind}"
    record, errors = parse_record(kind, obj)
    return record, "; ".join(f"{f}: {m}" for f, m in errors)


def _rewrite(path: Path, content: bytes) -> None:
    """Replace ``path``'s content atomically: write a sibling, fsync, rename over."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append_line(handle: Any, obj: dict[str, Any]) -> None:
    """Write one JSON line in a single write, then flush and fsync, so that a kill loses at
    most this line (and leaves it unterminated, which :func:`read_existing` detects)."""
    handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class GenerationConfig:
    """One generation run.

    Attributes:
        kind: ``descriptions`` or ``prompts``.
        dimension: one of :data:`~valuelocate.data.schema.DIMENSIONS`.
        count: the number of records of this dimension (and poles) the file should hold,
            counting those already in it.
        out: the JSON Lines file to append to.
        poles: the poles to write (descriptions only); balanced when there are two.
        split: ``search``, ``test``, or ``auto`` (prompts only): ``auto`` puts a stable
            hash-chosen ``test_fraction`` of the new prompts in ``test``.
        test_fraction: the share of ``test`` prompts under ``split="auto"``.
        per_call: how many items one model call is asked for.
        temperature: sampling temperature.
        max_tokens: the most new tokens per call.
        max_attempts: the most model calls; ``None`` means ``3 * needed_calls + 5``. A model
            that emits only junk stops here instead of running forever.
        seed: seeds the targets' order, the examples shown and the model's sampling.
        similarity: word 3-gram Jaccard at or above which an item is a duplicate; 0.5, the
            threshold `valuelocate data stats` reports near-duplicates from.
        id_prefix: ids are ``{id_prefix}-{dimension}-{number:05d}``.
        n_examples: items of the same dimension and pole (shipped or in the file) shown to
            the model as style examples per call.
        n_avoid: the most recent such items the model is told not to repeat.
    """

    kind: str
    dimension: str
    count: int
    out: Path
    poles: tuple[str, ...] = POLES
    split: str = "auto"
    test_fraction: float = 0.2
    per_call: int = 5
    temperature: float = 0.9
    max_tokens: int = 1024
    max_attempts: int | None = None
    seed: int = 0
    similarity: float = 0.5
    id_prefix: str = "gen"
    n_examples: int = 2
    n_avoid: int = 5

    def check(self) -> None:
        """Raise :class:`ValueError` naming the first bad field."""
        if self.kind not in GENERATABLE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(GENERATABLE_KINDS)}: {self.kind!r}")
        if self.dimension not in DIMENSIONS:
            raise ValueError(
                f"unknown dimension {self.dimension!r}; expected one of: {', '.join(DIMENSIONS)}"
            )
        if not self.poles or any(p not in POLES for p in self.poles):
            raise ValueError(f"poles must be among {', '.join(POLES)}: {self.poles!r}")
        if self.split not in (*SPLITS, "auto"):
            raise ValueError(f"split must be auto, {', '.join(SPLITS)}: {self.split!r}")
        for name in ("count", "per_call", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 < self.similarity <= 1.0:
            raise ValueError("similarity must be in (0, 1]")


@dataclass
class GenerationReport:
    """The outcome of a run; also passed to the progress callback after every call.

    Attributes:
        target: the number of records the file should hold.
        existing: matching records already in the file when the run began.
        written: records this run appended.
        rejected_malformed: answers with no JSON, and items that failed validation.
        rejected_duplicate: items too similar to the shipped data, the file or each other.
        attempts: model calls made.
        max_attempts: the bound on model calls.
        dropped_partial: whether an unterminated last line was cut from the file on resume.
        reasons: why items were rejected as malformed, with counts (``"no JSON"``, ...).
    """

    target: int
    existing: int = 0
    written: int = 0
    rejected_malformed: int = 0
    rejected_duplicate: int = 0
    attempts: int = 0
    max_attempts: int = 0
    dropped_partial: bool = False
    reasons: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str) -> None:
        """Count one malformed answer or item, and why."""
        self.rejected_malformed += 1
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        """Matching records in the file now."""
        return self.existing + self.written

    @property
    def complete(self) -> bool:
        """Whether the file holds the target number of records."""
        return self.total >= self.target

    def summary(self) -> str:
        """One line: written, rejected-malformed, rejected-duplicate, calls."""
        return (
            f"{self.total}/{self.target} in file ({self.written} written this run, "
            f"{self.existing} before); rejected: {self.rejected_malformed} malformed, "
            f"{self.rejected_duplicate} duplicate; {self.attempts} model call(s)"
        )


def _matches(record: Record, config: GenerationConfig) -> bool:
    if getattr(record, "dimension", None) != config.dimension:
        return False
    return config.kind != "descriptions" or getattr(record, "pole", None) in config.poles


def _next_number(records: Iterable[Record], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}-.*-(\d+)$")
    numbers = [int(m.group(1)) for r in records if (m := pattern.match(r.id))]
    return max(numbers, default=0) + 1


def _choose_target(
    config: GenerationConfig, counts: Counter[tuple[str, str | None]], rng: random.Random
) -> Target:
    """The least-represented (value, pole) pair so far, ties broken by ``rng``; a random
    domain for prompts. Keeps a resumed run balanced too."""
    poles: tuple[str | None, ...] = config.poles if config.kind == "descriptions" else (None,)
    pairs = [(v, p) for p in poles for v in BASIC_VALUES[config.dimension]]
    fewest = min(counts[pair] for pair in pairs)
    value, pole = rng.choice([pair for pair in pairs if counts[pair] == fewest])
    domain = rng.choice(DOMAINS) if config.kind == "prompts" else None
    return Target(config.kind, config.dimension, value, pole, domain)


def _split_for(config: GenerationConfig, record_id: str) -> str:
    if config.split != "auto":
        return config.split
    digest = hashlib.sha256(f"{config.seed}:{record_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < config.test_fraction else "search"


def _make_record(
    config: GenerationConfig, target: Target, text: str, number: int
) -> tuple[Record | None, str]:
    rid = f"{config.id_prefix}-{config.dimension}-{number:05d}"
    obj: dict[str, Any]
    if config.kind == "descriptions":
        obj = {
            "id": rid,
            "dimension": config.dimension,
            "pole": target.pole,
            "values": [target.value],
            "text": text,
        }
    else:
        obj = {
            "id": rid,
            "dimension": config.dimension,
            "value": target.value,
            "domain": target.domain,
            "split": _split_for(config, rid),
            "situation_id": rid,
            "text": text,
        }
    record, errors = parse_record(config.kind, obj)  # type: ignore[arg-type]
    return record, "; ".join(f"{f}: {m}" for f, m in errors)


def generate(
    config: GenerationConfig,
    backend: Backend,
    *,
    reference: Iterable[str] | None = None,
    progress: Callable[[GenerationReport], None] | None = None,
) -> GenerationReport:
    """Write items with ``backend`` until ``config.out`` holds ``config.count`` matching
    records or ``config.max_attempts`` calls are spent.

    Args:
        config: the run.
        backend: the model.
        reference: texts new items must not duplicate; the shipped dataset's when ``None``.
        progress: called with the report after the file is read and after every call.

    Returns:
        The report; ``report.complete`` is false when the attempts ran out first.

    Raises:
        GenerationError: the output file holds invalid lines, or the backend failed for good.

    Example:
        >>> report = generate(GenerationConfig("prompts", "conservation", 5, Path("p.jsonl")), b)
        >>> report.complete
        True
    """
    config.check()
    kind: Kind = config.kind  # type: ignore[assignment]
    config.out.parent.mkdir(parents=True, exist_ok=True)
    existing = read_existing(config.out, kind)
    matching = [r for r in existing.records if _matches(r, config)]
    report = GenerationReport(
        target=config.count, existing=len(matching), dropped_partial=existing.dropped_partial
    )
    needed_calls = -(-max(0, config.count - len(matching)) // config.per_call)
    report.max_attempts = config.max_attempts or 3 * needed_calls + 5

    shipped = shipped_records(kind) if reference is None else []
    seen = Deduplicator(threshold=config.similarity)
    for text in (r.text for r in shipped) if reference is None else reference:
        seen.add(text)
    for old in existing.records:
        seen.add(old.text)
    # Style examples and texts to steer away from: same dimension (and pole), shipped or not.
    pool = [r for r in (*shipped, *matching) if _matches(r, config)]
    counts: Counter[tuple[str, str | None]] = Counter(_record_key(r) for r in matching)
    rng = random.Random(config.seed)
    number = _next_number(existing.records, config.id_prefix)
    if progress:
        progress(report)

    with config.out.open("a", encoding="utf-8") as handle:
        while not report.complete and report.attempts < report.max_attempts:
            target = _choose_target(config, counts, rng)
            same = [r.text for r in pool if _record_key(r)[1] == target.pole]
            messages = build_messages(
                target,
                per_call=min(config.per_call, config.count - report.total),
                examples=rng.sample(same, min(config.n_examples, len(same))),
                avoid=same[-config.n_avoid :] if config.n_avoid else (),
            )
            asked = shingles(messages[-1]["content"])
            seed = _call_seed(config.seed, report.total, report.attempts)
            report.attempts += 1
            answers = backend.complete(
                messages, temperature=config.temperature, max_tokens=config.max_tokens, seed=seed
            )
            for answer in answers or [""]:
                items = parse_answer(answer)
                if not items:
                    report.reject("no JSON list of items")
                    continue
                for item in items:
                    if report.complete:
                        break
                    record = _accept(item, config, target, number, seen, report, asked)
                    if record is None:
                        continue
                    append_line(handle, record_to_dict(record))
                    seen.add(record.text)
                    counts[_record_key(record)] += 1
                    pool.append(record)
                    number += 1
                    report.written += 1
            if progress:
                progress(report)
    return report


def _accept(
    item: Any,
    config: GenerationConfig,
    target: Target,
    number: int,
    seen: Deduplicator,
    report: GenerationReport,
    asked: frozenset[str],
) -> Record | None:
    """The record that ``item`` makes, or ``None`` after counting why it is rejected.

    Args:
        item: one decoded element of a model's answer.
        config: the run.
        target: what the call asked for (fills pole, value, domain).
        number: the id number the record would take.
        seen: the texts it must not duplicate.
        report: where rejections are counted.
        asked: the word 3-grams of the request, which an item must not mostly copy.

    Returns:
        A valid record, not yet written or remembered.
    """
    text = item_text(item)
    if text is None:
        report.reject("no text")
        return None
    problem = text_problem(config.kind, text, config.dimension)
    if problem is not None:
        report.reject(problem)
        return None
    if seen.is_duplicate(text):  # first: an item that copies a shown example is a duplicate
        report.rejected_duplicate += 1
        return None
    grams = shingles(text)
    if len(grams & asked) >= MAX_COPIED * len(grams):
        report.reject("copies the request")
        return None
    record, errors = _make_record(config, target, text, number)
    if record is None:
        report.reject(f"schema: {errors}")
    return record


def _call_seed(seed: int, total: int, attempt: int) -> int:
    """A distinct, reproducible sampling seed per call, also across resumed runs."""
    digest = hashlib.sha256(f"{seed}:{total}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _record_key(record: Record) -> tuple[str, str | None]:
    if isinstance(getattr(record, "values", None), tuple):
        return record.values[0], record.pole  # type: ignore[union-attr]
    return getattr(record, "value", ""), None
