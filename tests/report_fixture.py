"""A hand-made run directory for the report: summary, manifest, neurons and evaluation JSON.

The numbers are invented but shaped like a real run (a 30-layer model, neurons in the upper
layers, affirm steering raising the steered dimension's score and oppose lowering it), so that
the report's plots can be looked at. Used by ``tests/reporting`` and
``benchmarks/screenshot_report.sh``; ``verdict=True`` adds a version-2 verdict.

Example:
    >>> run_dir = make_run(tmp_path, evaluation=True)
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from verdict_fixture import write_verdict

DIMENSIONS = ("openness_to_change", "conservation", "self_transcendence", "self_enhancement")
POLES = ("affirm", "oppose")
OPPOSITE = {
    "openness_to_change": "conservation",
    "conservation": "openness_to_change",
    "self_transcendence": "self_enhancement",
    "self_enhancement": "self_transcendence",
}
NUM_LAYERS = 30
NEURONS_PER_LAYER = 1536
EVIL_ANSWER = "<script>alert('pwned')</script> & I would <b>never</b> do that."


def _summary(rng: random.Random) -> dict[str, Any]:
    total = NUM_LAYERS * NEURONS_PER_LAYER
    dims: dict[str, Any] = {}
    for dim in DIMENSIONS:
        dims[dim] = {}
        for pole in POLES:
            # More neurons in the upper half, peaking two thirds of the way up.
            per_layer = [
                int(rng.uniform(0.6, 1.0) * 90 * math.exp(-(((layer - 20) / 6) ** 2)) + 5)
                for layer in range(NUM_LAYERS)
            ]
            count = sum(per_layer)
            dims[dim][pole] = {
                "count": count,
                "percent": 100.0 * count / total,
                "per_layer": per_layer,
            }
    keys = [f"{d}.{p}" for d in DIMENSIONS for p in POLES]
    overlap_all: dict[str, dict[str, float]] = {}
    for a in keys:
        overlap_all[a] = {}
        for b in keys:
            dim_a, pole_a = a.split(".")
            dim_b, pole_b = b.split(".")
            if a == b:
                value = 1.0
            elif OPPOSITE[dim_a] == dim_b and pole_a != pole_b:
                value = rng.uniform(0.25, 0.4)  # one pole's neurons are the opposed one's
            else:
                value = rng.uniform(0.0, 0.08)
            overlap_all[a][b] = value
    for a in keys:  # symmetric
        for b in keys:
            overlap_all[b][a] = overlap_all[a][b]
    per_pole = {
        pole: {d: {d2: overlap_all[f"{d}.{pole}"][f"{d2}.{pole}"] for d2 in DIMENSIONS}}
        for pole in POLES
        for d in DIMENSIONS
    }
    return {
        "total_neurons": total,
        "num_layers": NUM_LAYERS,
        "neurons_per_layer": NEURONS_PER_LAYER,
        "dimensions": dims,
        "overlap": {**per_pole, "all": overlap_all},
    }


def _manifest() -> dict[str, Any]:
    return {
        "version": 1,
        "kind": "locate",
        "status": "complete",
        "model": {
            "id": "default",
            "source": "SmolLM2-135M-Instruct (embedded GGUF)",
            "revision": None,
            "config_hash": "3f2a9c",
            "family": "llama",
            "num_layers": NUM_LAYERS,
            "neurons_per_layer": NEURONS_PER_LAYER,
        },
        "dataset": {"hash": "sha256:0b1c2d", "prompts": {}, "descriptions": {}},
        "options": {"model": "default", "scope": "generated", "method": "delta-p"},
        "seed": 0,
        "versions": {"valuelocate": "0.1.0", "python": "3.11.2", "torch": "2.13.0"},
        "command": "valuelocate locate --prompts-per-pole 64 --out runs/smol",
    }


def _neurons(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dim in DIMENSIONS:
        entry: dict[str, Any] = {"method": "delta-p", "params": {"threshold": 0.1}}
        for pole in POLES:
            top = [
                {
                    "layer": rng.randrange(15, NUM_LAYERS),
                    "index": rng.randrange(NEURONS_PER_LAYER),
                    "d": round(0.5 - 0.03 * i, 6),
                    "p": round(rng.uniform(0.5, 0.9), 6),
                    "q95": round(rng.uniform(0.2, 1.5), 6),
                    "effect_size": round(rng.uniform(0.5, 2.0), 6),
                }
                for i in range(10)
            ]
            entry[pole] = {"count": 100, "by_layer": {}, "top": top}
        out[dim] = entry
    return out


def _row(
    measure: str,
    dim: str,
    condition: str,
    gamma: float | None,
    scored: str | None,
    mean: float,
    half_width: float,
    *,
    n: int = 24,
    p: float | None = None,
) -> dict[str, Any]:
    return {
        "measure": measure,
        "steered_dimension": dim,
        "condition": condition,
        "gamma": gamma,
        "scored_dimension": scored,
        "mean": mean,
        "ci_low": mean - half_width,
        "ci_high": mean + half_width,
        "n": n,
        "n_excluded": 0,
        "p_vs_random": p,
        "diff_vs_random": None if p is None else 0.1,
    }


def _effect(dim: str, scored: str, condition: str, gamma: float) -> float:
    """Invented questionnaire shift: the steered dimension moves, its opposite moves back."""
    sign = {"affirm": 1.0, "oppose": -1.0}.get(condition, 0.0)
    if scored == dim:
        return sign * 0.45 * gamma / (1 + 0.3 * gamma)
    if scored == OPPOSITE[dim]:
        return -sign * 0.25 * gamma / (1 + 0.3 * gamma)
    return sign * 0.04 * gamma


def _evaluation(rng: random.Random, gammas: list[float]) -> dict[str, Any]:
    scores: list[dict[str, Any]] = []
    leakage: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    base = {d: rng.uniform(-0.3, 0.3) for d in DIMENSIONS}
    for dim in DIMENSIONS:
        for scored in DIMENSIONS:
            scores.append(_row("questionnaire", dim, "none", None, scored, base[scored], 0.08))
            for pole in POLES:
                prompt_shift = 0.3 if pole == "affirm" else -0.3
                mean = base[scored] + (prompt_shift if scored == dim else 0.0)
                scores.append(_row("questionnaire", dim, f"prompt_{pole}", None, scored, mean, 0.1))
            for gamma in gammas:
                for condition in ("affirm", "oppose", "random_affirm", "random_oppose"):
                    shift = _effect(dim, scored, condition, gamma) + rng.gauss(0, 0.02)
                    p = rng.uniform(0.0, 0.01) if condition in POLES else None
                    width = 0.08 + 0.02 * gamma
                    scores.append(
                        _row(
                            "questionnaire",
                            dim,
                            condition,
                            gamma,
                            scored,
                            base[scored] + shift,
                            width,
                            p=p,
                        )
                    )
                    if condition in POLES:
                        leakage.append(
                            {
                                "steered_dimension": dim,
                                "condition": condition,
                                "gamma": gamma,
                                "scored_dimension": scored,
                                "shift": shift,
                                "ci_low": shift - width,
                                "ci_high": shift + width,
                                "n": 8,
                            }
                        )
        scores.append(_row("judge:embedding", dim, "none", None, dim, 3.0, 0.2))
        for pole, sign in (("affirm", 1.0), ("oppose", -1.0)):
            scores.append(
                _row("judge:embedding", dim, f"prompt_{pole}", None, dim, 3 + sign * 0.8, 0.25)
            )
        for gamma in gammas:
            for condition in ("affirm", "oppose", "random_affirm", "random_oppose"):
                sign = {"affirm": 1.0, "oppose": -1.0}.get(condition, 0.0)
                mean = 3.0 + sign * 1.2 * gamma / (1 + 0.5 * gamma) + rng.gauss(0, 0.05)
                p = 0.002 if condition in POLES else None
                scores.append(_row("judge:embedding", dim, condition, gamma, dim, mean, 0.25, p=p))
                cost = {"affirm": 0.12, "oppose": 0.18}.get(condition, 0.05)
                ratio = 1.0 + cost * gamma**2
                scores.append(_row("perplexity_ratio", dim, condition, gamma, None, ratio, 0.03))
                share = min(1.0, 0.02 + cost / 2 * gamma**2)
                scores.append(_row("degenerate_share", dim, condition, gamma, None, share, 0.03))
        examples += _examples(dim, gammas)
    return {
        "format": "valuelocate.Evaluation",
        "version": 1,
        "model": _manifest()["model"],
        "options": {"gammas": gammas, "bootstrap": 1000, "judges": ["embedding"]},
        "dimensions": list(DIMENSIONS),
        "scored_dimensions": list(DIMENSIONS),
        "gammas": gammas,
        "conditions": [
            "none",
            "affirm",
            "oppose",
            "random_affirm",
            "random_oppose",
            "prompt_affirm",
            "prompt_oppose",
        ],
        "measures": ["questionnaire", "judge:embedding", "perplexity_ratio", "degenerate_share"],
        "prompt_baselines": {},
        "scores": scores,
        "leakage": leakage,
        "judges": {
            "embedding": {
                "kind": "embedding",
                "samples": 960,
                "ratings": 950,
                "malformed": 0,
                "gibberish": 10,
            }
        },
        "examples": examples,
        "seconds": 1234.5,
    }


def _examples(dim: str, gammas: list[float]) -> list[dict[str, Any]]:
    label = dim.replace("_", " ")
    prompts = [
        (
            f"{dim}-0007",
            "Your manager offers you a transfer to a new team in another city, where the work "
            "is unfamiliar but exciting. Your family would rather you stay. What do you think, "
            "and what would you do?",
        ),
        (
            f"{dim}-0012",
            "A neighbour asks you to join a committee that will decide how the town spends "
            "its festival budget. What do you think, and what would you do?",
        ),
    ]
    out: list[dict[str, Any]] = []
    for prompt_id, prompt in prompts:
        ids = {"steered_dimension": dim, "prompt_id": prompt_id, "prompt": prompt}
        none = (
            "I would weigh the opportunity against my family's wishes. Talking it through "
            "with them first seems fair, and then I would decide."
        )
        out.append({**ids, "condition": "none", "gamma": None, "answer": none, "degenerate": False})
        for gamma in gammas:
            affirm = (
                f"I would take it! New places and new work are exactly what keeps life "
                f"interesting ({label}, gamma {gamma}).\n\nMy family will adjust."
            )
            evil = prompt_id.endswith("0007") and dim == "conservation"
            oppose = (
                EVIL_ANSWER if evil else "I would stay where I am. " * (2 if gamma < 1.5 else 12)
            )
            out += [
                {
                    **ids,
                    "condition": "affirm",
                    "gamma": gamma,
                    "answer": affirm,
                    "degenerate": False,
                },
                {
                    **ids,
                    "condition": "oppose",
                    "gamma": gamma,
                    "answer": oppose,
                    "degenerate": gamma >= 1.5,
                },
            ]
    return out


def make_run(
    root: Path,
    *,
    evaluation: bool = True,
    gammas: list[float] | None = None,
    verdict: bool = False,
) -> Path:
    """Write a run directory under ``root`` and return it.

    Args:
        root: where to create ``run/``.
        evaluation: also write ``evaluation/results.json``.
        gammas: the gamma sweep of the evaluation (default 0.5, 1.0, 1.5).
        verdict: also write ``verdict/verdict.json`` (version 2, ``tests/verdict_fixture.py``).
    """
    rng = random.Random(0)
    run_dir = root / "run"
    (run_dir / "evaluation").mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {
        "summary.json": _summary(rng),
        "manifest.json": _manifest(),
        "neurons.json": _neurons(rng),
    }
    if evaluation:
        files["evaluation/results.json"] = _evaluation(rng, gammas or [0.5, 1.0, 1.5])
    for name, data in files.items():
        (run_dir / name).write_text(json.dumps(data, indent=1))
    if verdict:
        write_verdict(run_dir)
    return run_dir
