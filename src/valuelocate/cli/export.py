"""``valuelocate export``: a run's neuron sets as a folder ready to push to the Hugging Face Hub,
or (``--gguf``) its verdict's edits as llama.cpp control vectors."""

from __future__ import annotations

from pathlib import Path

import typer

from valuelocate.artifacts.export import export_run
from valuelocate.cli.common import input_run, output_dir

GGUF_RULE = "mean-diff"  # the verdict's default edit (llamacpp.export.EXPORTABLE's first)


def export_command(
    run_dir: Path = typer.Argument(
        ..., help="A finished run directory of `valuelocate locate`.", readable=False
    ),
    out_dir: Path = typer.Argument(..., help="New (or empty) folder to write.", readable=False),
    gguf: bool = typer.Option(
        False,
        "--gguf",
        help="Write llama.cpp control vectors instead (OUT_DIR/<dimension>.<pole>.gguf): the "
        "verdict's default edit at its calibrated gamma; needs a run with a verdict.",
    ),
    approximate: bool = typer.Option(
        False,
        "--approximate",
        help="With --gguf: also fold act-site edits of gated MLPs (not exact: up(x) is "
        "replaced by its mean over the run's texts; the agreement is measured and written).",
    ),
    rule: str = typer.Option(
        GGUF_RULE,
        help="With --gguf: mean-diff (the verdict's default edit) or mean-diff-control (its "
        "control); rules that are not a constant addition are refused.",
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="With --gguf: the run's model (default: the one it records)."
    ),
    dimension: list[str] = typer.Option(
        None, "--dimension", "-d", help="With --gguf: a dimension to export (repeatable)."
    ),
) -> None:
    """Write OUT_DIR: neurons.safetensors, a README model card and config.json (Hub-ready).

    Push it with `huggingface-cli upload OWNER/NAME OUT_DIR`; `--neurons OWNER/NAME` and
    `load_neuron_sets("OWNER/NAME")` read it back.

    With --gguf: one llama.cpp control vector per dimension and pole
    (`llama-cli -m MODEL.gguf --control-vector OUT_DIR/conservation.affirm.gguf`), a README
    card and export.json; see docs/llamacpp.md.
    """
    run_dir = input_run(run_dir, "RUN_DIR")
    out_dir = output_dir(out_dir, "OUT_DIR")
    if not gguf:
        if approximate or rule != GGUF_RULE or model is not None or dimension:
            raise ValueError("--approximate, --rule, --model and --dimension need --gguf")
        typer.echo(str(export_run(run_dir, out_dir)))
        return
    from valuelocate.llamacpp.export import export_control_vectors

    written = export_control_vectors(
        run_dir,
        out_dir,
        model=model,
        rule=rule,
        approximate=approximate,
        dimensions=list(dimension) if dimension else None,
        progress=lambda line: typer.echo(line, err=True),
    )
    typer.echo(str(written))
