"""``valuelocate serve``: the command line of :mod:`valuelocate.serve`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

from valuelocate.artifacts import read_json


def serve_command(
    neurons: Path = typer.Option(..., "--neurons", "-n", help="Run directory of `locate`."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model (default: the one the neurons were located on)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    api_key_env: str | None = typer.Option(
        None, help="Name of an environment variable holding the API key clients must send."
    ),
    allow_remote: bool = typer.Option(
        False, help="Allow a non-loopback --host without an API key (prints a warning)."
    ),
    name: str | None = typer.Option(None, help="Served model name (default: the model's)."),
    max_batch: int = typer.Option(8, min=1, help="Most requests in one batch (1: no batching)."),
    max_queue: int = typer.Option(64, min=1, help="Most requests held; more get HTTP 429."),
    max_gamma: float = typer.Option(4.0, min=0.0, help="Largest |gamma| a request may ask."),
    alias_gamma: float = typer.Option(1.0, help="Gamma of a model alias without @gamma."),
    max_tokens: int = typer.Option(1024, min=1, help="Largest max_tokens accepted."),
    log_text: bool = typer.Option(False, help="Also log prompts and answers."),
    device: str | None = typer.Option(None, help="cpu, cuda, ..."),
    dtype: str = typer.Option("float32", help="float32, bfloat16, float16 or auto."),
    threads: int | None = typer.Option(
        None, min=1, help="CPU threads for torch (1 is often fastest on a busy machine)."
    ),
) -> None:
    """Serve MODEL behind the OpenAI API, steered per request by the neurons of a run."""
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ValueError(f"--api-key-env {api_key_env}: that variable is unset or empty")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    model_id = model or read_json(neurons / "manifest.json")["model"]["id"]
    from valuelocate.serve import serve_forever
    from valuelocate.serve.server import check_bind

    check_bind(host, api_key is not None, allow_remote)  # refuse before printing or loading
    typer.echo(f"Loading {model_id} and the neuron sets of {neurons} ...")
    serve_forever(
        model_id,
        neurons,
        host=host,
        port=port,
        allow_remote=allow_remote,
        device=device,
        dtype=dtype,
        api_key=api_key,
        name=name,
        log_text=log_text,
        max_batch=max_batch,
        max_queue=max_queue,
        max_gamma=max_gamma,
        alias_gamma=alias_gamma,
        max_tokens_limit=max_tokens,
        on_ready=lambda: typer.echo(
            f"Serving {model_id} steered by {neurons} on http://{host}:{port}/v1"
        ),
    )
