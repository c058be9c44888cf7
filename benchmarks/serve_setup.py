"""What the serving benchmarks share: the chat prompts they send (a few everyday ones, or
many distinct situational prompts), each client's or row's steering, and a small located run
to steer with when none is given (``bench_serve.py``, ``profile_serve.py``, ``bench_decode.py``,
``soak_serve.py``, ``tie_gap.py``, ``tie_rate.py``; each is run as a script from the
repository root, so this folder is on ``sys.path``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from valuelocate.data import DIMENSION_NAMES, load_prompts
from valuelocate.locating import LocateOptions, locate
from valuelocate.models import LoadedModel

PROMPTS = [
    "Tell me a short story about a cat.",
    "What should I do on a rainy day?",
    "Describe your favourite meal.",
    "How do I make friends in a new town?",
    "Why do people like music?",
    "What is a good way to learn to cook?",
    "Write two sentences about the sea.",
    "Should I help my neighbour move house?",
]


def prompt_ids(lm: LoadedModel, count: int) -> list[list[int]]:
    """The token ids of ``count`` prompts (cycling through :data:`PROMPTS`) as the server's
    chat endpoint formats them; raw text for a model without a chat template."""
    return chat_ids(lm, [PROMPTS[i % len(PROMPTS)] for i in range(count)])


def situation_texts(count: int, repeat: int = 0) -> list[str]:
    """``count`` distinct ValueInsight situational prompts (the ``search`` split, the four
    dimensions in turn), the ``repeat``-th such set (each starts a new turn of the dimensions,
    so no two overlap): many different requests, where :data:`PROMPTS` repeats eight (so a few
    answers decide how often a round meets a near tie)."""
    by_dim = [load_prompts(dimension=d, split="search") for d in DIMENSION_NAMES]
    turns = min(len(p) for p in by_dim)
    per_set = -(-count // len(by_dim))  # turns each set takes
    if (repeat + 1) * per_set > turns:
        raise ValueError(f"only {turns * len(by_dim)} situational prompts in the search split")
    skip = repeat * per_set
    return [by_dim[i % len(by_dim)][skip + i // len(by_dim)].text for i in range(count)]


def situation_prompts(lm: LoadedModel, count: int) -> list[list[int]]:
    """The token ids of :func:`situation_texts` as the server's chat endpoint formats them."""
    return chat_ids(lm, situation_texts(count))


def chat_ids(lm: LoadedModel, texts: list[str]) -> list[list[int]]:
    """Each text as one user turn with the generation prompt, as the server's chat endpoint
    formats it; raw text for a model without a chat template."""
    out = []
    for text in texts:
        if getattr(lm.tokenizer, "chat_template", None):
            text = lm.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
            )
        out.append(list(lm.tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def row_values(i: int, dims: list[str]) -> dict[str, float]:
    """The steering of client or row ``i``: one dimension each in turn, at size +1 for the
    first round through ``dims`` and -1 for the next, and so on."""
    return {dims[i % len(dims)]: 1.0 if (i // len(dims)) % 2 == 0 else -1.0}


def small_run(lm: LoadedModel, model: str, prefix: str) -> Path:
    """Locate two dimensions from 4 prompts per pole into a fresh temporary folder (seconds on
    a small model): enough neuron sets for a server to steer with."""
    run_dir = Path(tempfile.mkdtemp(prefix=prefix)) / "run"
    options = LocateOptions(
        model=model,
        dimensions=("conservation", "self_enhancement"),
        prompts_per_pole=4,
        max_new_tokens=6,
        batch_size=4,
        checkpoint_seconds=0.0,
        method_params={"min_required": 10, "threshold": 0.6},
    )
    locate(options, run_dir, lm=lm)
    return run_dir
