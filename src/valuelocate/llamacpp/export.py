"""A run's verdict edits exported as llama.cpp control vectors.

**The export** (``valuelocate export RUN_DIR OUT --gguf``; :func:`export_control_vectors`)
writes one file per dimension and pole, ``OUT/<dimension>.<pole>.gguf``, holding the
verdict's default edit at the gamma the verdict calibrated (so strength 1 in llama.cpp is the
edit the verdict judged), a model card ``OUT/README.md`` and ``OUT/export.json``. The fold is
:mod:`valuelocate.llamacpp.fold`: exact for ``down_in`` edits (and ``act`` on plain MLPs);
for ``act`` edits of gated MLPs only with ``approximate=True``, which folds ``up(x)`` to its
mean over the run's neutral texts and contrast texts and measures, in our own model, how the
folded vectors' effect compares with the exact edit's (:func:`measure_agreement`).

Refused with one line (nothing written): a run without a verdict, a rule that is not a
constant addition (the study's ``dynamic``, ``scale``, ``ablate``, ...), a family without a
llama.cpp architecture or with a post-MLP norm (Gemma 2/3, OLMo 2), an edit on layer 0, an
existing non-empty ``OUT``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from valuelocate.artifacts import RunManifest, write_json
from valuelocate.artifacts.files import staged_dir
from valuelocate.artifacts.verdict import VERDICT_DIR, load_default_edits, load_verdict
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.data.neutral import load_neutral_texts
from valuelocate.llamacpp.agreement import AGREEMENT_ITEMS, TOP_TOKENS, measure_agreement
from valuelocate.llamacpp.controlvector import ExportRefused, write_control_vector
from valuelocate.llamacpp.fold import (
    FoldRefused,
    gguf_architecture,
    needs_up,
    precheck,
    residual_vectors,
    up_means,
)
from valuelocate.model_files import gguf_file_name
from valuelocate.models import LoadedModel, load_model
from valuelocate.prompting import answer_ids, context_ids, pad_token_id
from valuelocate.vocab import POLES

EXPORT_FORMAT = "valuelocate.ControlVectors"
EXPORT_VERSION = 1
# The verdict's default edit, and its matched control (the same vector permuted).
EXPORTABLE = ("mean-diff", "mean-diff-control")
WHAT_WORKS = "export the verdict's default edit (--rule mean-diff, the default)"
REFUSED_RULES: dict[str, str] = {
    "dynamic": "the study's dynamic rule is not a constant addition (it pushes each neuron by "
    "its own typical value and clamps the other pole's)",
    "random_control": "the dynamic rule's control is not a constant addition",
    "scale": "scale multiplies activations (a <- gamma*a), so what it adds depends on the input",
    "ablate": "ablate sets activations to 0, so what it removes depends on the input",
    "add": "add is a constant addition but the verdict calibrated no strength for it",
    "residual": "a run keeps no residual-stream vector to export",
    "word-priming": "word-priming biases the output logits, not the residual stream",
    "prompt": "the prompt baseline edits nothing",
}


def check_rule(rule: str) -> None:
    """Refuse a rule that cannot be a control vector (one line: why, and what works)."""
    if rule in EXPORTABLE:
        return
    why = REFUSED_RULES.get(rule, f"{rule!r} is not a rule ValueLocate can export")
    raise ExportRefused(f"Rule {rule!r} cannot be a control vector: {why}; {WHAT_WORKS}")


def _contrast_texts(lm: LoadedModel, dimension: str, chat_template: bool) -> list[list[int]]:
    """The run's contrast texts of ``dimension`` as the ladder read them: each search item's
    situation followed by each pole's answer."""
    out = []
    for item in load_forced_choice(dimension=dimension, split="search"):
        context = context_ids(lm, item.situation.strip(), chat_template=chat_template)
        for pole in POLES:
            out.append(context + answer_ids(lm, getattr(item, pole), chat_template=chat_template))
    return out


@dataclass
class Direction:
    """One exported file's facts."""

    dimension: str
    pole: str
    file: str
    gamma: float
    site: str
    exact: bool
    layers: list[int]
    norm: float
    agreement: dict[str, float] | None = None


AGREEMENT_COLUMNS = (  # (heading, key, format) of the card's agreement table
    ("mean exact change", "mean_abs_change", ".3g"),
    ("mean gap", "mean_abs_gap", ".3g"),
    ("max gap", "max_abs_gap", ".3g"),
    ("r", "correlation", ".3g"),
    ("same top-1", "top1", ".2f"),
    ("KL", "kl", ".3g"),
    ("fc shift exact", "fc_shift_exact", "+.4f"),
    ("fc shift folded", "fc_shift_folded", "+.4f"),
    ("same sign", "fc_sign_agreement", ".2f"),
)


def _num(value: Any, spec: str = ".3g") -> str:
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    return format(value, spec) if ok else "-"


def _agreement_section(rows: list[Direction]) -> str:
    approx = [r for r in rows if r.agreement is not None]
    if not approx:
        return ""
    head = " | ".join(h for h, _k, _f in AGREEMENT_COLUMNS)
    rule = "|---|---|" + "---|" * len(AGREEMENT_COLUMNS)
    lines = []
    for r in approx:
        a = r.agreement or {}
        cells = " | ".join(_num(a.get(k), f) for _h, k, f in AGREEMENT_COLUMNS)
        lines.append(f"| {r.dimension} | {r.pole} | {cells} |")
    items = int((approx[0].agreement or {}).get("items", 0))
    return f"""
## Agreement of the approximate fold (measured in ValueLocate's own model)

The act-site edit of a gated MLP adds `W_down (delta * up(x))`, which depends on the input;
the files hold `W_down (delta * mean up(x))`, the mean over the run's neutral texts and the
dimension's contrast texts (the forced-choice search items). On the first {items} dev-split
items of each dimension, each situation's next-token log-probabilities change under the exact
edit and under the folded vectors; the table compares the two changes on each prompt's
{TOP_TOKENS} most likely tokens (nats; r is their correlation), and the forced-choice
reading's mean shift (dLL, nats per token) under both, with the share of items whose shift
has the same sign.

| dimension | pole | {head} |
{rule}
{chr(10).join(lines)}
"""


def _card(manifest: dict[str, Any], rows: list[Direction], info: dict[str, Any]) -> str:
    table = "\n".join(
        f"| {r.dimension} | {r.pole} | `{r.file}` | {_num(r.gamma)} | {r.site} | "
        f"{'exact' if r.exact else 'approximate'} | {r.layers[0]}-{r.layers[-1]} "
        f"({len(r.layers)}) | {_num(r.norm)} |"
        for r in rows
    )
    model = manifest.get("model", {})
    gguf_name = info.get("model_gguf") or "MODEL.gguf"
    first = rows[0].file
    command = f"valuelocate export {info['run']} OUT --gguf"
    if info["approximate"]:
        command += " --approximate"
    budget = info.get("budget") or "see verdict.json"
    return f"""# llama.cpp control vectors of a ValueLocate run

Written by `{command}` ({info["date"]}): the verdict's default edit (rule `{info["rule"]}`)
of each dimension and pole, at the gamma the verdict calibrated to its damage budget
({budget}), folded into residual-stream vectors that llama.cpp adds to the output of decoder
layer N (`direction.N`, N counted from 0 as ValueLocate counts layers).

- model: `{model.get("id")}` (`{model.get("source")}`), family `{model.get("family")}`,
  llama.cpp architecture `{info["model_hint"]}` (the files' `controlvector.model_hint`);
  run it from `{gguf_name}`.
- config hash: `{model.get("config_hash")}`

| dimension | pole | file | gamma | site | fold | layers | norm |
|---|---|---|---|---|---|---|---|
{table}

**Exact** means the file adds exactly what the neuron edit adds (a constant addition at the
down projection's input, `W_down[:, S] @ delta_S`), up to float32 rounding; llama.cpp's
quantised matrix products still differ from ValueLocate's float ones (docs/llamacpp.md).
**Approximate** means an act-site edit of a gated MLP folded with the mean of `up(x)`.
{_agreement_section(rows)}
## Use

```bash
llama-cli -m {gguf_name} --control-vector {first} -p "..."
llama-cli -m {gguf_name} --control-vector-scaled {first} 0.5 -p "..."   # half the strength
llama-server -m {gguf_name} --control-vector {first}
```

Several files add up (`--control-vector A --control-vector B`). Strength 1 is the edit the
verdict judged; the verdict's figures are in the run's `verdict/verdict.json`. Details,
Ollama and the measured agreement with llama.cpp: ValueLocate's docs/llamacpp.md.
"""


def export_control_vectors(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    lm: LoadedModel | None = None,
    model: str | None = None,
    rule: str = "mean-diff",
    approximate: bool = False,
    dimensions: Sequence[str] | None = None,
    agreement_items: int = AGREEMENT_ITEMS,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write ``OUT/<dimension>.<pole>.gguf`` for each verdict direction, ``README.md`` and
    ``export.json``; return ``out_dir`` (see the module).

    Args:
        run_dir: a run with a verdict (``valuelocate run``).
        out_dir: a new (or empty) folder; written next to it and renamed into place.
        lm: the run's model, already loaded (else ``model`` or the run's model is loaded).
        rule: ``mean-diff`` (the verdict's default edit) or ``mean-diff-control`` (its
            control); every other rule is refused.
        approximate: allow act-site edits of gated MLPs, folded with the mean of ``up(x)``
            and measured.
        dimensions: only these (default: every dimension the verdict judged).
        agreement_items: dev-split items per dimension that measure an approximate fold.

    Raises:
        ExportRefused: no verdict, a rule that is not a constant addition, an existing
            output, another model than the run's.
        FoldRefused: the edit or the family cannot be a control vector (see
            :mod:`~valuelocate.llamacpp.fold`).
    """
    began = time.monotonic()
    say = progress or (lambda _line: None)
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not run_dir.is_dir():
        raise ExportRefused(f"{run_dir} is not a run directory (nothing was written)")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportRefused(f"{out_dir} already exists and is not empty (nothing was written)")
    check_rule(rule)
    folder = run_dir / VERDICT_DIR
    if not (folder / "verdict.json").is_file() or not (folder / "edits.safetensors").is_file():
        raise ExportRefused(
            f"{run_dir} has no verdict ({folder}/verdict.json and edits.safetensors): the "
            "export writes the verdict's calibrated edit; run `valuelocate run` first"
        )
    verdict = load_verdict(run_dir)
    edits = load_default_edits(run_dir)
    control = rule == EXPORTABLE[1]  # the default edit's matched control
    judged = list(dict.fromkeys(d for d, _p, _c in edits))
    chosen = list(dimensions or judged)
    missing = [d for d in chosen if d not in judged]
    if missing:
        raise ExportRefused(
            f"The verdict did not judge {missing[0]!r}; it judged {', '.join(judged)}"
        )
    manifest_path = run_dir / "manifest.json"
    manifest = RunManifest.read(manifest_path) if manifest_path.is_file() else None
    chat_template = manifest.chat_template if manifest is not None else True
    directions = [(d, p) for d in chosen for p in POLES if (d, p, control) in edits]
    for d, p in directions:
        if not edits[(d, p, control)][0].indices:
            raise ExportRefused(f"The verdict holds no {rule} edit for {d}.{p}")
        if manifest is not None:  # refuse what the records rule out before loading a model
            precheck(manifest.model.family, edits[(d, p, control)][0], approximate=approximate)
    if lm is None:
        model_id = model or (manifest.model.id if manifest is not None else None)
        if model_id is None:
            raise ExportRefused(f"{run_dir} has no manifest.json naming its model: pass --model")
        lm = load_model(model_id)
    if manifest is not None and manifest.model.config_hash != lm.config_hash:
        raise ExportRefused(
            f"The run was located on another model (config hash {manifest.model.config_hash[:12]}"
            f", this one {lm.config_hash[:12]}): pass the run's model (--model)"
        )
    hint = gguf_architecture(lm.model)
    steps = {}
    for d, p in directions:
        edit, gamma = edits[(d, p, control)]
        if gamma == 0.0:
            raise ExportRefused(f"The verdict calibrated no strength for {d}.{p} (gamma 0)")
        edit = edit.with_gamma(gamma)
        if needs_up(lm.model, edit) and not approximate:
            residual_vectors(lm.model, edit)  # raises the one-line reason (with --approximate)
        steps[(d, p)] = edit
    neutral_count = int((verdict.get("options") or {}).get("neutral_texts", 8))
    rows: list[Direction] = []
    vectors: dict[tuple[str, str], dict[int, Tensor]] = {}
    means: dict[str, dict[int, Tensor]] = {}  # per dimension: both poles share the texts
    for (d, p), edit in steps.items():
        up = None
        if needs_up(lm.model, edit):
            if d not in means:
                say(f"{d}: mean of up(x) over {neutral_count} neutral and the contrast texts")
                neutral = load_neutral_texts()[:neutral_count]
                texts = [list(lm.tokenizer(t)["input_ids"]) for t in neutral]
                texts += _contrast_texts(lm, d, chat_template)
                layers = sorted({n for (d2, _p), e in steps.items() if d2 == d for n in e.indices})
                pad = pad_token_id(lm.tokenizer)
                means[d] = up_means(lm.model, texts, layers, pad_token_id=pad)
            up = means[d]
        vecs = residual_vectors(lm.model, edit, up=up)
        agreement = None
        if up is not None:
            items = sorted(load_forced_choice(dimension=d, split="dev"), key=lambda i: i.id)
            say(f"{d}.{p}: measuring the fold against the exact edit on {agreement_items} items")
            agreement = measure_agreement(
                lm, edit, vecs, items[:agreement_items], chat_template=chat_template
            )
        vectors[(d, p)] = vecs
        norm = float(torch.stack(list(vecs.values())).norm())
        rows.append(Direction(d, p, f"{d}.{p}.gguf", float(edit.gamma), edit.site, up is None,
                              sorted(vecs), norm, agreement))  # fmt: skip
    record = manifest.to_json() if manifest is not None else {"model": {"id": lm.model_id}}
    info = {
        "run": str(run_dir),
        "rule": rule,
        "approximate": approximate,
        "model_hint": hint,
        "model_gguf": gguf_file_name(lm.model_id),
        "budget": verdict.get("budget"),
        "date": time.strftime("%Y-%m-%d"),
    }
    with staged_dir(out_dir) as staging:
        for row in rows:
            meta: dict[str, str | bool | int | float] = {
                "valuelocate.format": EXPORT_FORMAT,
                "valuelocate.version": EXPORT_VERSION,
                "valuelocate.model_id": str(lm.model_id),
                "valuelocate.config_hash": str(lm.config_hash),
                "valuelocate.dimension": row.dimension,
                "valuelocate.pole": row.pole,
                "valuelocate.rule": rule,
                "valuelocate.gamma": row.gamma,
                "valuelocate.site": row.site,
                "valuelocate.exact": row.exact,
                "valuelocate.budget": str(info["budget"]),
            }
            if info["model_gguf"]:
                meta["valuelocate.model_gguf"] = str(info["model_gguf"])
            for key, value in (row.agreement or {}).items():
                meta[f"valuelocate.agreement.{key}"] = float(value)
            write_control_vector(staging / row.file, vectors[(row.dimension, row.pole)],
                                 model_hint=hint, metadata=meta)  # fmt: skip
        seconds = round(time.monotonic() - began, 2)
        write_json(staging / "export.json", {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, **info, "seconds": seconds,
            "model": record.get("model"),
            "directions": [row.__dict__ for row in rows],
        })  # fmt: skip
        (staging / "README.md").write_text(_card(record, rows, info), encoding="utf-8")
    say(f"wrote {len(rows)} control vectors in {seconds:.1f} s")
    return out_dir


__all__ = ["EXPORTABLE", "FoldRefused", "check_rule", "export_control_vectors"]
