"""Does the questionnaire register a persona prompt on this model? The evaluation's positive
control, read in seconds before its minutes-long sweep.

The evaluation stage reads steering through the portrait questionnaire and judged answers. On
the embedded model the questionnaire does not move even under an explicit persona prompt
(docs/experiment.md), so its gamma sweep cannot register an edit either: minutes that buy no
evidence. The main job therefore runs this probe first and the sweep only where it reads.

For each dimension the probe reads the questionnaire under the two persona prompts of the
evaluation's prompt baselines (:func:`~valuelocate.evaluation.conditions.prompt_baselines`,
the same prefixes) and tests, one-sided and fixed in advance, that the dimension's centred
item scores are higher under the affirming prompt than under the opposing one (paired sign
flips over the dimension's items). The questionnaire *registers* a dimension at p < alpha.

Usage:

    >>> probe = prompt_probe(lm, DIMENSIONS)
    >>> probe.registers, probe.line()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuelocate.artifacts import read_json, write_json
from valuelocate.data import load_questionnaire
from valuelocate.evaluation.conditions import prompt_baselines
from valuelocate.evaluation.questionnaire import (
    centred_scores,
    option_token_ids,
    questionnaire_scores,
)
from valuelocate.evaluation.statistics import one_sided_sign_flip
from valuelocate.models import LoadedModel

PROBE_PATH = Path("evaluation") / "probe.json"
PROBE_ALPHA = 0.05


@dataclass(frozen=True)
class ProbeRow:
    """One dimension: the affirming minus opposing prompt's mean centred score (1..6 scale)."""

    dimension: str
    gap: float
    p: float
    items: int

    @property
    def registers(self) -> bool:
        return self.gap > 0 and self.p < PROBE_ALPHA


@dataclass(frozen=True)
class Probe:
    """The probe's rows; ``registers`` if any dimension's prompt gap is significant."""

    rows: tuple[ProbeRow, ...]
    sweep: bool = False  # set by the caller: whether the full sweep then ran

    @property
    def registers(self) -> bool:
        return any(row.registers for row in self.rows)

    def line(self) -> str:
        """One sentence for the terminal and the report."""
        got = sum(row.registers for row in self.rows)
        head = (
            f"The questionnaire registers a persona prompt on {got}/{len(self.rows)} "
            f"dimensions (one-sided p < {PROBE_ALPHA})"
        )
        if self.sweep:
            return head + "; the gamma sweep and judged answers ran."
        if self.registers:
            return head + "."
        return (
            head + ": a steering sweep read through it could not register either, so it was "
            "skipped (`valuelocate evaluate RUN_DIR`, or `run --evaluate full`, runs it)."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "alpha": PROBE_ALPHA,
            "registers": self.registers,
            "sweep": self.sweep,
            "line": self.line(),
            "dimensions": {
                row.dimension: {
                    "gap": row.gap,
                    "p": row.p,
                    "items": row.items,
                    "registers": row.registers,
                }
                for row in self.rows
            },
        }


def prompt_probe(
    lm: LoadedModel,
    dimensions: Sequence[str],
    *,
    seed: int = 0,
    chat_template: bool = True,
    batch_size: int = 40,
) -> Probe:
    """Read the questionnaire under each dimension's two persona prompts (see the module)."""
    items = load_questionnaire()
    letters = option_token_ids(lm.tokenizer)
    baselines = prompt_baselines(dimensions, seed=seed)
    rows = []
    for dimension in dimensions:
        centred = {}
        for pole, prefix in baselines[dimension].items():
            scores, _ = questionnaire_scores(
                lm,
                items,
                options=letters,
                prefix=prefix,
                batch_size=batch_size,
                chat_template=chat_template,
            )
            centred[pole] = centred_scores(scores, items, dimension)
        gap = (centred["affirm"] - centred["oppose"]).double().numpy()
        p, _ = one_sided_sign_flip(gap, seed=seed)
        rows.append(ProbeRow(dimension, float(gap.mean()), p, int(gap.size)))
    return Probe(tuple(rows))


def write_probe(run_dir: Path, probe: Probe) -> Path:
    """Write ``RUN_DIR/evaluation/probe.json`` (atomically)."""
    path = Path(run_dir) / PROBE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, probe.to_json())
    return path


def read_probe(run_dir: Path) -> dict[str, Any] | None:
    """``probe.json`` as written, or None when the run has none."""
    path = Path(run_dir) / PROBE_PATH
    if not path.is_file():
        return None
    data = read_json(path)
    return data if isinstance(data, dict) else None


__all__ = [
    "PROBE_ALPHA",
    "PROBE_PATH",
    "Probe",
    "ProbeRow",
    "prompt_probe",
    "read_probe",
    "write_probe",
]
