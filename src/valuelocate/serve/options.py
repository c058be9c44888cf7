"""The options of ``valuelocate serve`` (:class:`ServeOptions`), declared once: the command
line builds its flags from them (``valuelocate.cli.serve``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from valuelocate.optionspec import REQUIRED, option


@dataclass(frozen=True)
class ServeOptions:
    """What ``valuelocate serve`` serves, where, and within which limits.

    Attributes:
        neurons: the run directory of ``locate`` whose neurons steer the model.
        model: the model; None serves the one the neurons were located on.
        host, port: where to listen (loopback by default).
        api_key_env: the environment variable holding the key clients must send; None asks
            for no key.
        allow_remote: allow a non-loopback ``host`` without an API key.
        name: the served model name; None uses the model's.
        max_batch, max_queue: most requests in one batch, and held (more get HTTP 429).
        max_gamma: the largest ``|gamma|`` a request may ask.
        alias_gamma: the gamma of a model alias without ``@gamma``.
        max_tokens: the largest ``max_tokens`` accepted.
        tie_margin: a greedy row in a batch whose two best tokens are closer than this is
            served again alone up to that token (:mod:`valuelocate.serve.decode`); 0 turns
            the check off.
        log_text: also log prompts and answers.
        device, dtype: how the model is loaded.
        threads: CPU threads for torch; None leaves torch's choice.
    """

    neurons: Path = option(REQUIRED, "Run directory of `locate`.", short="-n", path="any")
    model: str | None = option(
        None, "Model (default: the one the neurons were located on).", short="-m"
    )
    host: str = option("127.0.0.1", "Address to bind (loopback by default).")
    port: int = option(8000, "Port to listen on.")
    api_key_env: str | None = option(
        None, "Name of an environment variable holding the API key clients must send."
    )
    allow_remote: bool = option(
        False, "Allow a non-loopback --host without an API key (prints a warning)."
    )
    name: str | None = option(None, "Served model name (default: the model's).")
    max_batch: int = option(
        8,
        "Most requests generating together; new ones join a running batch (1: no batching).",
        min=1,
    )
    max_queue: int = option(64, "Most requests held; more get HTTP 429.", min=1)
    max_gamma: float = option(4.0, "Largest |gamma| a request may ask.", min=0.0)
    alias_gamma: float = option(1.0, "Gamma of a model alias without @gamma.")
    max_tokens: int = option(1024, "Largest max_tokens accepted.", min=1)
    tie_margin: float = option(
        1e-3,
        "A greedy row whose two best tokens are closer than this in a batch is served again "
        "alone up to that token, so every greedy answer equals its solo one; 0: no check "
        "(faster under load; a near tie may then answer otherwise than alone).",
        min=0.0,
    )
    log_text: bool = option(False, "Also log prompts and answers.")
    device: str | None = option(None, "cpu, cuda, ...")
    dtype: str = option("float32", "float32, bfloat16, float16 or auto.")
    threads: int | None = option(
        None, "CPU threads for torch (1 is often fastest on a busy machine).", min=1
    )

    def api_key(self) -> str | None:
        """The key clients must send, read from ``api_key_env``; None without one. A named
        variable that is unset or empty is a ValueError."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ValueError(f"--api-key-env {self.api_key_env}: that variable is unset or empty")
        return key
