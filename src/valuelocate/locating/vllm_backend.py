"""The vLLM backend (optional extra ``valuelocate[vllm]``): locating with ``--scope generated``
and steered generation at vLLM's speed, on one GPU.

Usage:

1. ``pip install 'valuelocate[vllm]'`` (without it, ``--backend vllm`` says so and stops).
2. ``locator = VLLMLocator.load(LocateOptions(model=..., backend="vllm"))`` starts an
   in-process vLLM engine in eager mode (``enforce_eager=True``, no torch.compile: both would
   bypass Python forward hooks).
3. ``locator.run_pole(job, options, stats)`` generates a pole's answers and streams the same
   per-neuron statistics as :func:`valuelocate.locating.run_pole`;
   ``locator.generate(texts, edit=...)`` generates greedy answers with an
   :class:`~valuelocate.hooks.Edit` applied to the generated tokens (steering, judging).

How the activation is reached (the why): vLLM builds its own model classes whose MLP fuses the
activation and the product with ``up`` into one module (``SiluAndMul``), so there is no module
whose output is the neuron ``a = act(gate)``. A torch forward hook on that module (registered
in the worker through ``LLM.collective_rpc``, vLLM's supported way to run code beside the
model) reads its input ``[tokens, 2 * neurons]``, recomputes ``a = act(gate)`` for the
statistics, and for an edit returns ``a' * up`` in place of ``a * up`` at the edited neurons:
the module's forward is never replaced. A pre-hook on the root model reads ``positions``, and
the forward context's attention metadata (``query_start_loc``) splits the flat token axis into
requests. A request's segment of one token is a decoding step, i.e. a generated token fed back;
the engine is configured so that no prompt is ever split into chunks or shortened by prefix
caching, so a prefill segment always holds a whole prompt (two tokens or more). The request ids
of the segments come from the model runner's batch (``model_runner.input_batch.req_ids``), which
vLLM does not document as public: :func:`valuelocate.locating.vllm_worker._request_ids` is the one
place to adapt when it moves.

Limits: tensor parallelism 1 (each hook must see all neurons of its layer), ``--site act``,
``--scope generated`` for locating, one process (no ``torchrun``: use several independent runs
on different GPUs, or vLLM's own data parallelism). Numbers match the transformers backend up to
kernel differences (vLLM's attention and fused kernels round differently), so counts near
``a = 0`` can differ by a few tokens; see ``tests/test_vllm.py``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from valuelocate.architectures import ModelShape
from valuelocate.hooks import Edit, Scope
from valuelocate.locating.vllm_worker import StepTokens, Tracer, install, remove, scope_mask
from valuelocate.models import DEFAULT_MODEL, ModelLoadError, _config_hash, default_model_dir
from valuelocate.prompting import chat_inputs, stop_token_ids
from valuelocate.stats import NeuronStats

INSTALL_HINT = "pip install 'valuelocate[vllm]'"


class VLLMUnavailableError(ModelLoadError):
    """vLLM is not installed, or this machine cannot run it."""


def require_vllm() -> ModuleType:
    """Import vLLM, or raise an error that says how to install it.

    Returns:
        The ``vllm`` module.

    Raises:
        VLLMUnavailableError: vLLM is absent, or there is no CUDA GPU.
    """
    try:
        vllm = importlib.import_module("vllm")
    except ImportError as exc:
        raise VLLMUnavailableError(
            f"--backend vllm needs vLLM, which is an optional extra: {INSTALL_HINT} (on a "
            "machine with a CUDA GPU). Or use --backend transformers."
        ) from exc
    if not torch.cuda.is_available():
        raise VLLMUnavailableError("--backend vllm needs a CUDA GPU; use --backend transformers")
    return vllm


# -------------------------------------------------- driver side (worker side: vllm_worker)


def _wave_stats_adder(stats: NeuronStats, wave: int) -> Callable[[int, Tensor, StepTokens], None]:
    """A callback that feeds each decoding step to ``stats`` as ``[wave, 1, neurons]``: one
    generated token per request and step, at the request's row."""

    def add(layer: int, a: Tensor, step: StepTokens) -> None:
        keep = scope_mask(step, "generated")  # [tokens]
        values = a.new_zeros(wave, 1, a.shape[-1])
        mask = torch.zeros(wave, 1, dtype=torch.bool, device=a.device)
        rows = step.rows[keep]
        values[rows, 0] = a[keep]
        mask[rows, 0] = True
        stats.add(layer, values, mask)

    return add


@dataclass
class VLLMLocator:
    """A vLLM engine with what :mod:`valuelocate.locating` needs to know of the model.

    Attributes mirror :class:`~valuelocate.models.LoadedModel`: ``tokenizer``, ``source``,
    ``revision``, ``config_hash``; plus ``shape`` and ``llm`` (the ``vllm.LLM``).
    """

    llm: Any
    tokenizer: Any
    shape: ModelShape
    source: str
    revision: str | None
    config_hash: str
    stops: list[int]
    chat_template: bool = True

    @classmethod
    def load(cls, options: Any, *, device: str | None = None) -> VLLMLocator:
        """Start vLLM for ``options.model`` (a :class:`~valuelocate.locating.LocateOptions`).

        Args:
            options: model, dtype, revision, batch size and answer length are read.
            device: ``None`` or ``cuda``/``cuda:K`` (vLLM picks its GPU from
                ``CUDA_VISIBLE_DEVICES``; ``cuda:K`` sets it when unset).

        Returns:
            A ready :class:`VLLMLocator`.
        """
        vllm = require_vllm()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("--backend vllm runs in one process; do not launch it with torchrun")
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        source = str(default_model_dir()) if options.model == DEFAULT_MODEL else options.model
        if device and device.startswith("cuda:"):
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", device.split(":", 1)[1])
        # The engine core must run in this process: the hooks' callbacks are Python objects
        # of this process, handed to the worker by collective_rpc without serialisation.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        config = AutoConfig.from_pretrained(source, revision=options.revision)
        neurons = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None)
        neurons = neurons or 4 * int(config.hidden_size)
        shape = ModelShape(config.model_type, int(config.num_hidden_layers), int(neurons))
        tokenizer = AutoTokenizer.from_pretrained(source, revision=options.revision)
        max_len = int(getattr(config, "max_position_embeddings", 4096))
        llm = vllm.LLM(
            model=source,
            revision=options.revision,
            dtype="auto" if options.dtype == "auto" else options.dtype,
            enforce_eager=True,
            compilation_config=0,  # no torch.compile: compiled graphs skip Python hooks
            tensor_parallel_size=1,
            enable_prefix_caching=False,  # a prompt's prefill always holds the whole prompt
            max_num_seqs=options.batch_size,
            # Room for a whole wave's prompts in one step, so no prompt is split into chunks.
            max_num_batched_tokens=max(options.batch_size * max_len, 8192),
            seed=options.seed,
        )
        try:
            generation = GenerationConfig.from_pretrained(source, revision=options.revision)
        except OSError:
            generation = None
        stops = stop_token_ids(SimpleNamespace(generation_config=generation), tokenizer)
        return cls(
            llm=llm,
            tokenizer=tokenizer,
            shape=shape,
            source=source,
            revision=options.revision,
            config_hash=_config_hash(SimpleNamespace(config=config)),  # type: ignore[arg-type]
            stops=stops,
            chat_template=bool(options.chat_template),
        )

    def _prompts(self, texts: Sequence[str]) -> list[list[int]]:
        """The same token ids as the transformers backend (padding removed)."""
        batch = chat_inputs(self.tokenizer, list(texts), chat_template=self.chat_template)
        ids, mask = batch["input_ids"], batch["attention_mask"].bool()
        return [row[keep].tolist() for row, keep in zip(ids, mask, strict=True)]

    def _generate_wave(
        self,
        texts: Sequence[str],
        tracer: Tracer,
        *,
        max_new_tokens: int,
        repetition_penalty: float,
    ) -> list[list[int]]:
        """Generate greedy answers to one wave of prompts with the tracer's hooks installed."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            temperature=0.0,
            max_tokens=max_new_tokens,
            repetition_penalty=repetition_penalty,
            stop_token_ids=self.stops,
        )
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in self._prompts(texts)]
        engine = self.llm.llm_engine
        tracer.rows_of = {}
        # Requests are added one by one so that each id is known with its row before it runs.
        for row, prompt in enumerate(prompts):
            request_id = f"valuelocate-{id(tracer)}-{row}"
            tracer.rows_of[request_id] = row
            engine.add_request(request_id, prompt, params)
        self.llm.collective_rpc(install, args=(tracer,))
        outputs: dict[str, list[int]] = {}
        try:
            while engine.has_unfinished_requests():
                for out in engine.step():
                    if out.finished:
                        outputs[out.request_id] = list(out.outputs[0].token_ids)
        finally:
            self.llm.collective_rpc(remove, args=(tracer,))
        return [outputs[rid] for rid in sorted(tracer.rows_of, key=tracer.rows_of.__getitem__)]

    def run_pole(
        self,
        job: Any,
        options: Any,
        stats: NeuronStats,
        *,
        on_batch: Callable[[NeuronStats, int], None] | None = None,
        batch_starts: Sequence[int] | None = None,
    ) -> NeuronStats:
        """Stream one pole's statistics, batch by batch, like
        :func:`valuelocate.locating.run_pole` (generated tokens only).

        Args:
            job: the pole's :class:`~valuelocate.locating.PoleJob`.
            options: the run's :class:`~valuelocate.locating.LocateOptions`.
            stats: the accumulator (returned).
            on_batch: called with ``(stats, end)`` after each batch.
            batch_starts: the batches to run (default: all).

        Returns:
            ``stats``.
        """
        if batch_starts is None:
            batch_starts = range(0, len(job.texts), options.batch_size)
        for begin in batch_starts:
            texts = job.texts[begin : begin + options.batch_size]
            tracer = Tracer(neurons=self.shape.neurons_per_layer)
            tracer.on_values = _wave_stats_adder(stats, len(texts))
            self._generate_wave(
                texts,
                tracer,
                max_new_tokens=options.max_new_tokens,
                repetition_penalty=options.repetition_penalty,
            )
            stats.end_batch()
            if on_batch is not None:
                on_batch(stats, begin + len(texts))
        return stats

    def generate(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int,
        repetition_penalty: float = 1.1,
        edit: Edit | None = None,
        scope: Scope = "generated",
    ) -> list[str]:
        """Greedy answers, with ``edit`` applied to the neurons at ``scope``'s tokens.

        Args:
            texts: the prompts (wrapped in the chat template when the model has one).
            max_new_tokens: answer length.
            repetition_penalty: as in the transformers backend.
            edit: an :class:`~valuelocate.hooks.Edit` (None: plain generation).
            scope: where the edit applies (``generated`` as in the study).

        Returns:
            The decoded answers, in the order of ``texts``.

        Example:
            >>> locator.generate(["Hello"], max_new_tokens=8, edit=set_value_edit({3: [5]}, 0))
        """
        tracer = Tracer(neurons=self.shape.neurons_per_layer, edit=edit, edit_scope=scope)
        ids = self._generate_wave(
            texts, tracer, max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty
        )
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in ids]
