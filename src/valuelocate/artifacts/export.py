"""A run's neuron sets as a folder ready to push to the Hugging Face Hub.

``export_run(run_dir, out_dir)`` writes:

- ``neurons.safetensors``: the run's file, copied byte for byte (checked first);
- ``manifest.json`` and ``summary.json``: the run's records, so that ``steer --neurons OUT``
  and ``report`` work on the folder as on the run;
- ``config.json``: a small description (format, model id, revision, config hash, geometry,
  dimensions, method and parameters, contrast source);
- ``README.md``: a model card made with ``huggingface_hub.ModelCard`` (YAML metadata the Hub
  parses, then the model, the contrast, the sparsity table, the verdict if the run was
  evaluated, and how to load the sets).

The folder is written next to ``out_dir`` and renamed into place, so a failed export leaves
nothing behind; an existing non-empty ``out_dir`` is refused. ``load_neuron_sets`` reads the
folder, or a Hub repo holding it.

Example:
    >>> export_run("runs/smol", "export/smol")
    >>> load_neuron_sets("export/smol")
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from valuelocate.artifacts import (
    ArtifactError,
    RunManifest,
    RunSummary,
    load_neuron_sets,
    read_json,
    write_json,
)
from valuelocate.artifacts.files import staged_dir
from valuelocate.artifacts.verdict import VERDICT_DIR, load_verdict

EXPORT_FORMAT = "valuelocate.NeuronSetsExport"
EXPORT_VERSION = 1
REFERENCE_GAMMA = 1.0


def export_run(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the Hub-ready folder of a finished run; return ``out_dir``."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise ArtifactError(f"{run_dir} is not a run directory (run `valuelocate locate` first)")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ArtifactError(f"{out_dir} already exists and is not empty (nothing was written)")
    manifest = RunManifest.read(run_dir / "manifest.json")
    if manifest.status != "complete":
        raise ArtifactError(f"{run_dir / 'manifest.json'}: the run is not complete (--resume it)")
    summary = RunSummary.read(run_dir / "summary.json")
    sets = load_neuron_sets(run_dir / "neurons.safetensors")
    if (summary.num_layers, summary.neurons_per_layer) != (
        manifest.model.num_layers,
        manifest.model.neurons_per_layer,
    ):
        raise ArtifactError(
            f"{run_dir / 'summary.json'} and {run_dir / 'manifest.json'} disagree on the "
            "model's geometry"
        )
    geometry = (manifest.model.num_layers, manifest.model.neurons_per_layer)
    if any(tuple(s.affirm.shape) != geometry for s in sets.values()):
        raise ArtifactError(
            f"{run_dir / 'neurons.safetensors'} was located on another model than "
            f"{run_dir / 'manifest.json'} records ({geometry[0]} layers x {geometry[1]} neurons)"
        )
    verdict = _verdict(run_dir / "evaluation" / "results.json")
    forced = _forced_choice_verdict(run_dir / VERDICT_DIR)
    methods = {
        dim: {"method": s.affirm.method, "params": dict(s.affirm.params)} for dim, s in sets.items()
    }
    config = _config(manifest, list(sets), methods)
    with staged_dir(out_dir) as staging:
        shutil.copyfile(run_dir / "neurons.safetensors", staging / "neurons.safetensors")
        shutil.copyfile(run_dir / "manifest.json", staging / "manifest.json")
        shutil.copyfile(run_dir / "summary.json", staging / "summary.json")
        write_json(staging / "config.json", config)
        if forced is not None:  # the verdict's edits travel too: run_edit and serve read them
            (staging / VERDICT_DIR).mkdir()
            for name in ("verdict.json", "edits.safetensors"):
                shutil.copyfile(run_dir / VERDICT_DIR / name, staging / VERDICT_DIR / name)
        model_card(config, summary, verdict, forced).save(staging / "README.md")
    return out_dir


def _config(manifest: RunManifest, dims: list[str], methods: dict[str, Any]) -> dict[str, Any]:
    options = manifest.options
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "model": {
            "id": manifest.model.id,
            "source": manifest.model.source,
            "revision": manifest.model.revision,
            "config_hash": manifest.model.config_hash,
            "family": manifest.model.family,
            "num_layers": manifest.model.num_layers,
            "neurons_per_layer": manifest.model.neurons_per_layer,
        },
        "dimensions": dims,
        "methods": methods,
        "contrast": {
            "source": "custom" if manifest.dataset.hash.startswith("custom:") else "ValueInsight",
            "dataset_hash": manifest.dataset.hash,
            "scope": options.get("scope"),
            "site": options.get("site"),
            "prompts_per_pole": options.get("prompts_per_pole"),
            "max_new_tokens": options.get("max_new_tokens"),
            "seed": manifest.seed,
        },
        "versions": manifest.versions,
    }


def _verdict(path: Path) -> list[dict[str, Any]] | None:
    """Per steered dimension and pole, the questionnaire shift against random neurons.

    At gamma 1 (or the largest gamma below it): "as predicted" when affirm raises (oppose
    lowers) the steered dimension's score more than random neurons do, with p < 0.05.
    """
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != "valuelocate.Evaluation":
        raise ArtifactError(f"{path} is not a ValueLocate evaluation result")
    if data.get("version", 1) != 1:
        raise ArtifactError(f"{path} has version {data.get('version')!r}; this code reads 1")
    scores = data.get("scores")
    if not isinstance(scores, list):
        raise ArtifactError(f"{path}: field 'scores' is missing or not a list")
    for r in scores:  # a NaN or inf anywhere in the scores is a damaged file
        for name in ("mean", "ci_low", "ci_high", "diff_vs_random", "p_vs_random"):
            value = r.get(name) if isinstance(r, dict) else None
            if isinstance(value, float) and not math.isfinite(value):
                raise ArtifactError(f"{path}: field {name!r} of a score is {value!r}")
    rows = [
        r
        for r in scores
        if isinstance(r, dict)
        and r.get("measure") == "questionnaire"
        and r.get("condition") in ("affirm", "oppose")
        and r.get("scored_dimension") == r.get("steered_dimension")
        and isinstance(r.get("gamma"), (int, float))
    ]
    if not rows:
        raise ArtifactError(f"{path} holds no questionnaire scores of a steered dimension")
    gammas = sorted({float(r["gamma"]) for r in rows})
    below = [g for g in gammas if g <= REFERENCE_GAMMA]
    gamma = below[-1] if below else gammas[0]
    out = []
    for r in rows:
        if float(r["gamma"]) != gamma:
            continue
        diff, p = r.get("diff_vs_random"), r.get("p_vs_random")
        for name in ("mean", "diff_vs_random", "p_vs_random"):
            value = r.get(name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ArtifactError(f"{path}: field {name!r} of a score is {value!r}")
        sign = 1 if r["condition"] == "affirm" else -1
        ok = diff is not None and p is not None and sign * float(diff) > 0 and float(p) < 0.05
        out.append(
            {
                "dimension": r["steered_dimension"],
                "pole": r["condition"],
                "gamma": gamma,
                "mean": r.get("mean"),
                "p_vs_random": p,
                "verdict": "as predicted" if ok else "not shown",
            }
        )
    return out


def _forced_choice_verdict(folder: Path) -> list[dict[str, Any]] | None:
    """The main job's verdict, one row per dimension and instrument (``RUN_DIR/verdict/``,
    version 2), or None when the run has none."""
    if not (folder / "verdict.json").exists():
        return None
    if not (folder / "edits.safetensors").is_file():
        missing = folder / "edits.safetensors"
        raise ArtifactError(f"{missing} is missing: the verdict did not finish")
    data = load_verdict(folder.parent)
    dims = data.get("dimensions") if isinstance(data, dict) else None
    if data.get("version") != 2 or not isinstance(dims, list):
        raise ArtifactError(
            f"{folder / 'verdict.json'}: not a version-2 verdict (field 'dimensions'); "
            "rerun `valuelocate run` to judge the run's located sets"
        )
    out = []
    tests = ("moves", "random_sets", "shuffles", "word_priming")
    try:
        for d in dims:
            for name, r in d["readings"].items():
                out.append({
                    "dimension": d["dimension"], "instrument": name,
                    "set": f"{d['default']['label']} ({d['default']['neurons']} neurons)",
                    "gamma": d["gamma"],
                    "cost": max(v for v in d["cost"].values() if v is not None),
                    # None where the dimension was not measured (no instrument reads it)
                    "gap": r["edit"]["gap"]["mean"] if "edit" in r else None,
                    **{t: r[t].get("p_holm") for t in tests},
                    "reads": r["prompt"]["reads"], "beats_all": r["beats_all"],
                })  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{folder / 'verdict.json'}: malformed verdict ({exc!r})") from exc
    return out


def _forced_choice_table(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return "No verdict (`valuelocate run` writes one)."

    def num(value: Any, spec: str) -> str:
        return format(value, spec) if isinstance(value, (int, float)) else "—"

    lines = [
        "Gap between the affirm and oppose edits of the located set (nats) on the test split, "
        "at the gamma where neutral-text damage reaches the budget; Holm-adjusted one-sided p "
        "against each null. `run_edit(folder, dimension, pole)` returns the edit.\n",
        "| dimension | instrument | set | gamma | ppl | gap | moves | random sets | shuffles "
        "| word priming | prompt reads | beats all |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dimension']} | {r['instrument']} | {r['set']} | {num(r['gamma'], '.3g')} | "
            f"{num(r['cost'], '.3f')} | {num(r['gap'], '+.4f')} | {num(r['moves'], '.2g')} | "
            f"{num(r['random_sets'], '.2g')} | {num(r['shuffles'], '.2g')} | "
            f"{num(r['word_priming'], '.2g')} | {'yes' if r['reads'] else 'no'} | "
            f"{'yes' if r['beats_all'] else 'no'} |"
        )
    return "\n".join(lines)


def model_card(
    config: dict[str, Any],
    summary: RunSummary,
    verdict: list[dict[str, Any]] | None,
    forced: list[dict[str, Any]] | None = None,
) -> Any:
    """The README model card: Hub metadata in YAML, then what the sets are and how to load them."""
    from huggingface_hub import ModelCard, ModelCardData

    model = config["model"]
    data = ModelCardData(
        library_name="valuelocate",
        tags=["valuelocate", "neuron-sets", "interpretability", "schwartz-values"],
        base_model=model["source"] if "/" in str(model["source"]) else None,
    )
    data.valuelocate = {  # type: ignore[attr-defined]
        "model_id": model["id"],
        "revision": model["revision"],
        "config_hash": model["config_hash"],
        "num_layers": model["num_layers"],
        "neurons_per_layer": model["neurons_per_layer"],
        "dimensions": config["dimensions"],
    }
    contrast = config["contrast"]
    methods = "\n".join(
        f"| {dim} | {m['method']} | `{json.dumps(m['params'], sort_keys=True)}` |"
        for dim, m in config["methods"].items()
    )
    sparsity = "\n".join(
        f"| {dim} | {pole} | {s.count} | {s.percent:.3f} |"
        for dim, poles in summary.dimensions.items()
        for pole, s in poles.items()
    )
    if verdict is None:
        verdict_text = "Not evaluated (run `valuelocate evaluate` on the run directory)."
    else:
        verdict_text = (
            "| dimension | pole | gamma | score | p vs random | verdict |\n"
            "|---|---|---|---|---|---|\n"
        )
        verdict_text += "\n".join(
            f"| {v['dimension']} | {v['pole']} | {v['gamma']} | {v['mean']} | "
            f"{v['p_vs_random']} | {v['verdict']} |"
            for v in verdict
        )
    body = f"""
# Value neurons of {model["id"]}

MLP neurons tied to Schwartz value dimensions (two poles each: affirm and oppose), located
with ValueLocate on `{model["source"]}`.

## Model

- model id: `{model["id"]}` (loaded from `{model["source"]}`)
- revision: `{model["revision"]}`
- config hash: `{model["config_hash"]}` (the sets are refused on a model with another geometry)
- geometry: {model["num_layers"]} layers x {model["neurons_per_layer"]} neurons ({model["family"]})

## Contrast

- source: {contrast["source"]} (dataset hash `{contrast["dataset_hash"]}`)
- scope: {contrast["scope"]}, site: {contrast["site"]}, prompts per pole:
  {contrast["prompts_per_pole"]}, new tokens: {contrast["max_new_tokens"]}, seed: {contrast["seed"]}

| dimension | method | parameters |
|---|---|---|
{methods}

## Sparsity

| dimension | pole | neurons | percent |
|---|---|---|---|
{sparsity}

## Verdict

### Forced choice (the main measure)

{_forced_choice_table(forced)}

### Questionnaire

{verdict_text}

## How to load

```python
from valuelocate import load_neuron_sets
sets = load_neuron_sets("this/folder-or-hub-repo-id")
sets["{config["dimensions"][0]}"].affirm.by_layer()
```

or on the command line: `valuelocate steer --neurons FOLDER ...`.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
