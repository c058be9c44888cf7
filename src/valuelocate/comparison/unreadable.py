"""A dimension no judged instrument can read: said in one line and seconds, not judged.

The verdict's positive control on each instrument is the persona prompt: where telling the
model to hold one pole's values does not separate the poles' readings (one-sided sign flips,
``p >= 0.05``), the instrument cannot read this model, and nothing it says about an edit counts
for or against steering (METHOD.md section 8; :mod:`~valuelocate.comparison.judging`). The
verdict reads the persona prompts first (:func:`persona_readings`); where no judged instrument
reads a dimension, its sparsity curve and nulls (minutes a dimension: a gradient read per
instrument, 180 calibrated vectors, the exact reads) would buy no judged evidence, so by
default the dimension costs seconds instead (:func:`unread_dimension`): the whole band's edit
and its served control are calibrated to the budget (``serve`` and ``export`` apply them) and
the record says why it was not judged. ``--sweep-unreadable`` measures such a dimension in
full all the same (its curve is then on the record, for an instrument the model cannot read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from valuelocate.artifacts.verdict import edit_tensors
from valuelocate.comparison import judging
from valuelocate.comparison.cost import VectorCost
from valuelocate.comparison.curve import control_edit, dense, point_nulls, search_passes
from valuelocate.comparison.forced_choice import choice_reading, likelihood_reading
from valuelocate.comparison.grid import prompt_prefix
from valuelocate.comparison.search import calibrate
from valuelocate.locating.ladder import Ladder
from valuelocate.models import LoadedModel
from valuelocate.vocab import POLES

WHY = (
    "no judged instrument reads this model on this dimension (on each, the persona prompt "
    "does not separate the poles, p >= 0.05): not judged, its sparsity curve and nulls not "
    "measured (--sweep-unreadable measures them)"
)


def exact_reading(
    lm: LoadedModel, items: Sequence[Any], chat_template: bool, instrument: str, **kwargs: Any
) -> np.ndarray:
    """An instrument's exact reading of ``items`` (under an ``edit`` or a ``prefix``)."""
    read = choice_reading if instrument == "choice" else likelihood_reading
    return read(lm, items, chat_template=chat_template, **kwargs).numpy()


def persona_readings(
    lm: LoadedModel,
    instruments: Mapping[str, Sequence[Any]],
    dimension: str,
    chat_template: bool,
) -> dict[str, dict[str, np.ndarray]]:
    """Per instrument and pole, the reading of its items under the pole's persona prompt."""
    return {
        name: {
            pole: exact_reading(
                lm, items, chat_template, name, prefix=prompt_prefix(dimension, pole)
            )
            for pole in POLES
        }
        for name, items in instruments.items()
    }


def unread_dimension(
    lm: LoadedModel,
    dimension: str,
    ladder: Ladder,
    neutral: Sequence[str],
    instruments: Mapping[str, Sequence[Any]],
    prompts: Mapping[str, Mapping[str, np.ndarray]],
    personas: Mapping[str, dict[str, Any]],
    *,
    budget: float,
    options: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A dimension that is not judged: its record, per-item rows and served edit tensors.
    ``prompts``: each instrument's persona readings per pole; ``personas``: their tests
    (:func:`~valuelocate.comparison.judging.persona`).

    The default is the whole band (no dev rule was applied: it needs the curve), its +/- edit
    calibrated to the budget with the band's first random null +/- (the served control, the
    same null the full sweep draws first) by one search (:func:`~.comparison.cost.calibrate`).
    ``options`` carries ``steps``, ``start_gamma`` and ``seed``."""
    band = len(ladder.sizes) - 1
    v = ladder.vector(band)
    ((flat, values),) = point_nulls(ladder, band, 1, options.seed + band)
    null = dense(flat, values, v.numel())
    vectors = torch.stack([v, -v, null, -null])
    start = torch.full((4,), float(options.start_gamma), dtype=torch.float64)
    cost = VectorCost(lm, neutral, ladder.layers)
    found, measured = calibrate(
        cost, vectors, start, budget=budget, steps=search_passes(options) + 1,
        slopes=cost.slopes(vectors),
    )  # fmt: skip
    gammas = {"affirm": float(found[0]), "oppose": float(found[1])}
    costs = {"affirm": float(measured[0]), "oppose": float(measured[1])}
    readings, rows = {}, []
    for name, items in instruments.items():
        readings[name] = judging.unjudged(personas[name], len(items))
        rows += [
            {"dimension": dimension, "instrument": name, "id": item.id,
             "prompt_affirm": float(prompts[name]["affirm"][k]),
             "prompt_oppose": float(prompts[name]["oppose"][k])}
            for k, item in enumerate(items)
        ]  # fmt: skip
    control = {
        "gammas": {"affirm": float(found[2]), "oppose": float(found[3])},
        "costs": {"affirm": float(measured[2]), "oppose": float(measured[3])},
    }
    record = {
        "dimension": dimension,
        "measured": False,
        "why": WHY,
        "default": {
            "point": band, "label": ladder.labels[band], "neurons": ladder.sizes[band],
            "fraction": ladder.fractions[band], "accepted": False,
            "chosen_by": "not judged (no instrument reads this model): the whole band",
        },
        "gamma": gammas["affirm"], "gammas": gammas, "cost": costs,
        "control": control,
        "readings": readings, "agreement": {}, "curve": [],
    }  # fmt: skip
    tensors: dict[str, Any] = {}
    for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
        tensors.update(edit_tensors(f"{dimension}.{pole}.edit", ladder.edit(band, 1.0, sign=sign)))
        own = control_edit(ladder, flat, values, control["gammas"][pole], gammas[pole], pole)
        tensors.update(edit_tensors(f"{dimension}.{pole}.control", own))
    return record, rows, tensors


__all__ = ["WHY", "exact_reading", "persona_readings", "unread_dimension"]
