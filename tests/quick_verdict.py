"""A verdict folder written in seconds, for tests that need the main job's default edit but not
its judgement (the lm-eval client of ``serve``, the GGUF export, the llama.cpp check).

``quick_verdict(lm, run_dir, "conservation")`` ranks the band's neurons on the forced-choice
search items (the ladder, :mod:`valuelocate.locating.ladder`), takes one ladder point (the
whole band by default, the point the main job's verdict chose for conservation on SmolLM2),
calibrates each pole's gamma to the verdict's damage budget (neutral-text perplexity ratio
1.10, as :func:`~valuelocate.comparison.verdict.run_verdict` does) and writes
``RUN_DIR/verdict/`` as the verdict writes it: ``edits.safetensors`` (the edit at gamma 1 per
pole) and ``verdict.json`` (the ``default`` rows with the gammas). What it skips is the
verdict's choice of the point on the dev split and every null: it judges nothing.

``site="down_in"`` reads the items' differences at the down projection's input instead and
edits there (an exact constant residual vector per layer).

``quick_run(lm, run_dir, dimension)`` also writes a small ``neurons.safetensors`` (the first
neurons of the edit, as both poles' sets), so that ``valuelocate serve`` accepts the folder as
a run without a ``locate`` (which takes minutes on SmolLM2); its default rule is then the
verdict's ``mean-diff``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from valuelocate.architectures import model_shape
from valuelocate.artifacts import save_neuron_sets
from valuelocate.artifacts.verdict import edit_tensors, write_verdict
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.locating.ladder import build_ladder, default_band, item_differences
from valuelocate.models import LoadedModel
from valuelocate.selection import NeuronSet, Selection
from valuelocate.steering.budget import NeutralCost, find_gamma
from valuelocate.steering.mean_diff import MeanDiffEdit

BUDGET = 1.10


def default_edits(
    lm: LoadedModel,
    dimension: str,
    *,
    site: str = "act",
    point: int = -1,
    neutral_texts: int = 8,
    start_gamma: float = 2.0,
    steps: int = 3,
    layers: tuple[int, ...] | None = None,
) -> dict[str, tuple[MeanDiffEdit, float, float]]:
    """Per pole, the ladder point's edit at gamma 1, its calibrated gamma and its cost."""
    shape = model_shape(lm.model)
    band = layers or default_band(shape.num_layers)
    items = load_forced_choice(dimension=dimension, split="search")
    diffs = item_differences(lm, items, band, site=site)  # type: ignore[arg-type]
    ladder = build_ladder(
        diffs, dimension=dimension, layers=band, total_neurons=shape.total_neurons
    )
    k = point % len(ladder.sizes)
    cost = NeutralCost(lm, "ppl", load_neutral_texts()[:neutral_texts])
    out = {}
    for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
        edit = replace(ladder.edit(k, 1.0, sign=sign), site=site)
        found = find_gamma(
            lambda g, e=edit: cost(e.with_gamma(g)), budget=BUDGET, start=start_gamma, steps=steps
        )
        out[pole] = (edit, found.gamma, found.cost)
    return out


def quick_verdict(lm: LoadedModel, run_dir: Path, dimension: str, **kwargs: Any) -> dict[str, Any]:
    """Write ``RUN_DIR/verdict/`` for one dimension (see the module); return verdict.json."""
    edits = default_edits(lm, dimension, **kwargs)
    tensors: dict[str, Any] = {}
    for pole, (edit, _gamma, _cost) in edits.items():
        tensors.update(edit_tensors(f"{dimension}.{pole}.edit", edit))
    record = {
        "format": "valuelocate.Verdict",
        "version": 2,
        "model": lm.model_id,
        "budget": f"ppl={BUDGET:.2f}",
        "note": "tests/quick_verdict.py: a calibrated ladder point, not judged",
        "rows": [
            {"method": "default", "dimension": dimension, "pole": pole, "gamma": gamma,
             "cost": cost}
            for pole, (_edit, gamma, cost) in edits.items()
        ],
    }  # fmt: skip
    site = next(iter(edits.values()))[0].site
    write_verdict(run_dir, record, tensors, "located", site)
    return record


def quick_run(
    lm: LoadedModel, run_dir: Path, dimension: str, *, set_size: int = 8, **kwargs: Any
) -> dict[str, Any]:
    """A folder ``serve`` reads: ``neurons.safetensors`` (placeholder sets, the first
    ``set_size`` neurons of the band's first layer per pole: they give the dimension its
    aliases; the verdict's ``mean-diff`` steers) and the verdict of :func:`quick_verdict`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    record = quick_verdict(lm, run_dir, dimension, **kwargs)
    shape = model_shape(lm.model)

    def pole_set(pole: str) -> NeuronSet:
        layers = torch.full((set_size,), default_band(shape.num_layers)[0], dtype=torch.long)
        index = torch.arange(set_size, dtype=torch.long)
        zeros = [torch.zeros(set_size, dtype=torch.float64) for _ in range(4)]
        return NeuronSet(pole, "quick", {}, (shape.num_layers, shape.neurons_per_layer),  # type: ignore[arg-type]
                         layers, index, *zeros)  # fmt: skip

    selection = Selection(pole_set("affirm"), pole_set("oppose"))
    save_neuron_sets(run_dir / "neurons.safetensors", {dimension: selection}, shape)
    return record
