"""A local transformers model as a chat backend (:class:`HFBackend`).

It samples with its own seeded ``torch.Generator`` (never torch's global RNG), so the same
seed gives the same completions wherever it runs, and an HTTP server that wraps it returns the
same text as a local call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from valuelocate.llm.base import Message


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
        from valuelocate.forward import input_device
        from valuelocate.generation import GenerationConfig, generate_ids

        input_ids = torch.tensor([ids] * n, device=input_device(self.model))  # [n, prompt]
        eos = self._eos_ids()
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos[0]
        # The one generator (valuelocate.generation): no repetition penalty for chat answers.
        config = GenerationConfig(
            max_new_tokens=max_tokens, temperature=temperature, repetition_penalty=1.0
        )
        output = generate_ids(
            self.model,
            {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)},
            config=config,
            pad_token_id=pad,
            generator_seed=0 if seed is None else seed,
            eos_token_id=eos,
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
