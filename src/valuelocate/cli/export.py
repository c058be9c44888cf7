"""``valuelocate export``: a run's neuron sets as a folder ready to push to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

import typer

from valuelocate.artifacts.export import export_run
from valuelocate.cli.common import input_run, output_dir


def export_command(
    run_dir: Path = typer.Argument(
        ..., help="A finished run directory of `valuelocate locate`.", readable=False
    ),
    out_dir: Path = typer.Argument(..., help="New (or empty) folder to write.", readable=False),
) -> None:
    """Write OUT_DIR: neurons.safetensors, a README model card and config.json (Hub-ready).

    Push it with `huggingface-cli upload OWNER/NAME OUT_DIR`; `--neurons OWNER/NAME` and
    `load_neuron_sets("OWNER/NAME")` read it back.
    """
    run_dir = input_run(run_dir, "RUN_DIR")
    out_dir = output_dir(out_dir, "OUT_DIR")
    typer.echo(str(export_run(run_dir, out_dir)))
