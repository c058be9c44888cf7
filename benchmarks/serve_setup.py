"""What the serving benchmarks share: the chat prompts they send, each client's or row's
steering, and a small located run to steer with when none is given (``bench_serve.py``,
``profile_serve.py``, ``bench_decode.py``, ``soak_serve.py``; each is run as a script from the
repository root, so this folder is on ``sys.path``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

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
    out = []
    for i in range(count):
        text = PROMPTS[i % len(PROMPTS)]
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
