"""Shared pieces of the serve tests: the real stories260k model, a neuron run located on it,
and a server started on a free loopback port (imported by the test_serve_* modules)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from torch import nn

from valuelocate.hooks import count_hooks
from valuelocate.locating import LocateOptions, locate
from valuelocate.models import LoadedModel, load_model
from valuelocate.serve import build_server, running_server
from valuelocate.serve.server import RunningServer

from tiny_models import STORIES

needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")

OPTIONS = LocateOptions(
    model=str(STORIES),
    dimensions=("conservation", "self_enhancement"),
    prompts_per_pole=5,
    max_new_tokens=6,
    batch_size=2,
    checkpoint_seconds=0.0,
    method_params={"min_required": 10, "threshold": 0.6},
)
NAME = "stories"


def make_lm() -> LoadedModel:
    return load_model(str(STORIES))


def make_run(lm: LoadedModel, run_dir: Path) -> Path:
    return locate(OPTIONS, run_dir, lm=lm).run_dir


@pytest.fixture(scope="module")
def lm() -> LoadedModel:
    return make_lm()


@pytest.fixture(scope="module")
def run_dir(lm: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One run per test session, shared by the serve test modules.
    path = tmp_path_factory.getbasetemp() / "serve-run"
    if not (path / "neurons.safetensors").is_file():
        make_run(lm, path)
    return path


@pytest.fixture(scope="module")
def server(lm: LoadedModel, run_dir: Path) -> Iterator[RunningServer]:
    parts = build_server(lm, run_dir, name=NAME, max_batch=8, max_queue=64)
    with running_server(parts) as running:
        yield running


def period_id(lm: LoadedModel) -> int:
    """The token of ".": the stories model does not end its stories within the tests' budgets,
    so the ``ignore_eos`` tests make its period stand in for a stop token."""
    ids = lm.tokenizer("It was big.")["input_ids"]
    return next(i for i in ids if lm.tokenizer.decode([i]) == ".")


def settled_hooks(model: nn.Module, expected: int = 0, timeout: float = 10.0) -> int:
    """The model's hook count once it reaches ``expected`` (or ``timeout`` passes).

    A reply is sent from inside the engine's hooked block, when its row ends; the hooks leave
    when the batch's loop ends a moment later, on the engine thread. So a client can see its
    answer a few milliseconds before the hooks are gone: wait for that, rather than race it.
    """
    deadline = time.monotonic() + timeout
    while (count := count_hooks(model)) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return count
