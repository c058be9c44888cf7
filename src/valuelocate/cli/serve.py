"""``valuelocate serve``: the command line of :mod:`valuelocate.serve`."""

from __future__ import annotations

import logging

import typer

from valuelocate.artifacts import read_json
from valuelocate.cli.common import NEURONS, input_run
from valuelocate.cli.options import options_command
from valuelocate.serve.options import ServeOptions


def _serve(options: ServeOptions) -> None:
    """Serve MODEL behind the OpenAI API, steered per request by the neurons of a run."""
    api_key = options.api_key()
    # A Hub id, or with --model a bare neurons file, is read by the server itself.
    given = options.model is not None
    neurons = input_run(options.neurons, "--neurons", expected=NEURONS, hub=given, files=given)
    if options.threads is not None:
        import torch

        torch.set_num_threads(options.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host, port = options.host, options.port
    model_id = options.model or read_json(neurons / "manifest.json")["model"]["id"]
    from valuelocate.serve import serve_forever
    from valuelocate.serve.server import check_bind

    # Refuse before printing or loading.
    check_bind(host, api_key is not None, options.allow_remote)
    typer.echo(f"Loading {model_id} and the neuron sets of {neurons} ...")
    serve_forever(
        model_id,
        neurons,
        host=host,
        port=port,
        allow_remote=options.allow_remote,
        device=options.device,
        dtype=options.dtype,
        api_key=api_key,
        name=options.name,
        log_text=options.log_text,
        max_batch=options.max_batch,
        max_queue=options.max_queue,
        max_gamma=options.max_gamma,
        alias_gamma=options.alias_gamma,
        max_tokens_limit=options.max_tokens,
        tie_margin=options.tie_margin,
        on_ready=lambda: typer.echo(
            f"Serving {model_id} steered by {neurons} on http://{host}:{port}/v1"
        ),
    )


serve_command = options_command(ServeOptions, _serve)
