"""The options of a locating run: everything that decides its numbers.

:class:`LocateOptions` is validated before any work starts (:meth:`LocateOptions.validate`)
and recorded whole in the run's manifest (:meth:`LocateOptions.manifest_view`), which a resume
must match.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from valuelocate.architectures import SITES, Site
from valuelocate.data import DIMENSIONS
from valuelocate.optionspec import option
from valuelocate.selection import SELECTION_METHODS, get_method
from valuelocate.steering.ladder import DEFAULT_FRACTIONS
from valuelocate.vocab import SCOPES, Scope

# Where the poles' activations come from (see LocateOptions.contrast).
CONTRAST_SOURCES: tuple[str, ...] = ("generated", "descriptions", "pairs")

BACKENDS = ("transformers", "vllm")

# Options that decide only the sparsity ladder, which a resume recomputes when they change:
# a resume may differ in them (see valuelocate.locating.pipeline).
LADDER_OPTIONS: tuple[str, ...] = ("ladder", "ladder_fractions")


def parse_params(items: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["threshold=0.1", "min_required=2000"]`` -> ``{"threshold": 0.1, "min_required": 2000}``
    (a mapping is taken as it is).

    Values are read as JSON when they parse (numbers, true/false, null), else kept as text.
    """
    if isinstance(items, Mapping):
        return dict(items)
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param takes KEY=VALUE, got {item!r}")
        try:
            params[key.strip().replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip().replace("-", "_")] = raw
    return params


def parse_fractions(value: str | Iterable[float]) -> tuple[float, ...]:
    """``"0.001,0.01"`` -> ``(0.001, 0.01)``; a sequence of numbers is kept as floats.

    Raises:
        ValueError: an entry is not a number (naming ``--ladder-fractions``).
    """
    if not isinstance(value, str):
        return tuple(float(f) for f in value)
    try:
        return tuple(float(f) for f in value.split(",") if f.strip())
    except ValueError as exc:
        raise ValueError(
            f"--ladder-fractions takes comma-separated numbers, got {value!r}"
        ) from exc


def parse_dimensions(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"all"`` (or nothing) -> every dimension; ``"a, b"`` -> ``("a", "b")``; a sequence of
    names is kept as it is."""
    if not isinstance(value, str):
        return tuple(value)
    if value.strip() in ("all", ""):
        return DIMENSIONS
    return tuple(d.strip() for d in value.split(",") if d.strip())


@dataclass(frozen=True)
class LocateOptions:
    """Everything that decides a locating run's numbers (all of it goes into the manifest);
    each field is also a flag of ``valuelocate locate``.

    Attributes:
        model: ``default``, a local folder or a hub id.
        dimensions: which dimensions to locate (default all four).
        prompts_per_pole: search prompts per pole; ``None`` uses the whole search split.
        scope: tokens counted: ``generated`` (the study), ``prompt`` or ``all``.
        site: ``act`` (the neuron, the study's) or ``down_in``.
        max_new_tokens: answer length (the study: 500; shorter is much cheaper on a CPU).
        batch_size: prompts per batch. Part of the result: float sums depend on batching.
        repetition_penalty: as in the study's generation (1.1).
        dtype, device, revision: how the model is loaded.
        device_map: ``auto`` spreads a model too large for one device over all of them
            (accelerate); None keeps it whole on ``device``.
        backend: ``transformers`` or ``vllm`` (the optional extra ``valuelocate[vllm]``;
            ``--scope generated`` only).
        seed: prompt sampling and description pairing.
        chat_template: wrap prompts in the model's chat template when it has one.
        method, method_params: the selection strategy and its parameters.
        prompts_file, descriptions_file: a user's own dataset files (validated) instead of
            the shipped ValueInsight.
        checkpoint_seconds: write partial statistics at most this often.
        contrast: where the two poles' activations come from: ``generated`` (the study:
            answers generated with the pole's description in context), ``descriptions`` (the
            pole's value descriptions read as user messages; no generation) or ``pairs`` (the
            search split's forced-choice items, statistics over each pole's answer tokens).
            Recorded in the manifest only when not ``generated``.
        all_statistics: keep every statistic of :data:`~valuelocate.stats.STATISTICS`, not
            only the ones the method ``needs`` (recorded in the manifest only when set).
        ladder, ladder_fractions: also compute the sparsity ladders
            (:mod:`~valuelocate.locating.ladder`; the transformers backend only) at these
            fractions of all MLP neurons. They decide the ladder alone: recorded in the
            manifest only when not the defaults, and a resume may change them.
    """

    model: str = option("default", "'default' (embedded SmolLM2), a local folder or a hub id.",
                        short="-m")  # fmt: skip
    dimensions: tuple[str, ...] = option(
        DIMENSIONS,
        "Comma-separated dimension ids, or 'all': " + ", ".join(DIMENSIONS) + ".",
        parse=parse_dimensions,
        text="all",
    )
    prompts_per_pole: int | None = option(
        None, "Search prompts per pole (default: the whole search split).", min=1
    )
    scope: Scope = option("generated", "Tokens counted: generated (the study), prompt, or all.")
    site: Site = option("act", "Neuron site: act (activation output, the study) or down_in.")
    max_new_tokens: int = option(64, "Answer length, greedy (study: 500).", min=1)
    batch_size: int = option(8, "Prompts per batch.", min=1)
    repetition_penalty: float = option(1.1, "Generation repetition penalty.")
    dtype: str = option("float32", "float32, bfloat16, float16 or auto.")
    device: str | None = option(
        None, "cpu, cuda, cuda:1 ... (default: cpu). Under torchrun, cuda is cuda:LOCAL_RANK."
    )
    revision: str | None = option(None, "Hub revision of --model.")
    device_map: str | None = option(
        None, "'auto' spreads a model too large for one device over all devices (accelerate)."
    )
    backend: str = option(
        "transformers",
        "Backend: " + ", ".join(BACKENDS) + " (vllm: pip install 'valuelocate[vllm]', "
        "--scope generated only).",
    )
    seed: int = option(0, "Seed of prompt sampling and description pairing.")
    chat_template: bool = option(True, "Use the model's chat template.")
    method: str = option("delta-p", "Selection method: " + ", ".join(SELECTION_METHODS) + ".")
    method_params: Mapping[str, Any] = option(
        {},
        "Selection parameter KEY=VALUE, repeatable. delta-p: min_required (count, or fraction "
        "of all neurons, default 0.005), threshold (0.1). cohens-d: q (0.01), min_effect (0). "
        "lape: quantile (0.01), min_p. mean-diff: top_k (0.01).",
        flag="--param",
        parse=parse_params,
        repeat=True,
    )
    prompts_file: str | None = option(
        None,
        "Your own situational prompts (JSONL, validated) instead of ValueInsight.",
        path="any",
    )
    descriptions_file: str | None = option(
        None,
        "Your own value descriptions (JSONL, validated) instead of ValueInsight.",
        path="any",
    )
    checkpoint_seconds: float = option(
        60.0, "Write partial statistics at most this often (for --resume)."
    )
    all_statistics: bool = option(
        False,
        "Keep every statistic (also the token variance), not only what --method reads.",
        flag="--all-statistics",
    )
    contrast: str = option(
        "generated",
        "Where the poles' activations come from: generated (the study: answers written with "
        "the pole's description in context), descriptions (the descriptions themselves, no "
        "generation: seconds on a CPU) or pairs (the forced-choice search items' answers).",
    )
    ladder: bool = option(
        True,
        "Also rank the band's neurons by the pairs contrast's paired effect size at a ladder "
        "of sparsities (the verdict edits these).",
    )
    ladder_fractions: tuple[float, ...] = option(
        DEFAULT_FRACTIONS,
        "Comma-separated fractions of all MLP neurons at which the ladder edits its top "
        "neurons, each in (0, 1), ascending; the whole band is always the last point.",
        parse=parse_fractions,
    )

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        unknown = [d for d in self.dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValueError(
                f"Unknown dimension {unknown[0]!r}; expected some of: {', '.join(DIMENSIONS)}"
            )
        if not self.dimensions:
            raise ValueError("No dimension to locate")
        if self.scope not in SCOPES:
            raise ValueError(f"Unknown scope {self.scope!r}; expected one of {SCOPES}")
        if self.site not in SITES:
            raise ValueError(f"Unknown site {self.site!r}; expected one of {SITES}")
        if self.prompts_per_pole is not None and self.prompts_per_pole < 1:
            raise ValueError("--prompts-per-pole must be at least 1")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("--batch-size and --max-new-tokens must be at least 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"Unknown backend {self.backend!r}; expected one of {BACKENDS}")
        if self.backend == "vllm" and (self.scope != "generated" or self.site != "act"):
            raise ValueError("--backend vllm supports --scope generated and --site act only")
        get_method(self.method)(**dict(self.method_params))  # unknown name or parameter
        if self.contrast not in CONTRAST_SOURCES:
            raise ValueError(
                f"Unknown --contrast {self.contrast!r}; expected one of: "
                f"{', '.join(CONTRAST_SOURCES)}"
            )
        if self.contrast != "generated" and self.backend != "transformers":
            raise ValueError("--contrast descriptions and pairs run on the transformers backend")
        fractions = tuple(self.ladder_fractions)
        if any(not 0.0 < f < 1.0 for f in fractions):
            raise ValueError(f"--ladder-fractions must each lie in (0, 1), got {fractions}")
        if any(b <= a for a, b in zip(fractions, fractions[1:], strict=False)):
            raise ValueError(f"--ladder-fractions must ascend strictly, got {fractions}")

    def manifest_view(self) -> dict[str, Any]:
        """The options as JSON (what must match for a resume)."""
        data = asdict(self)
        data["dimensions"] = list(self.dimensions)
        data["method_params"] = dict(self.method_params)
        if not self.all_statistics:  # runs made before the option still resume
            del data["all_statistics"]
        if self.contrast == "generated":  # the same for the contrast source
            del data["contrast"]
        data["ladder_fractions"] = list(self.ladder_fractions)
        if self.ladder and tuple(self.ladder_fractions) == DEFAULT_FRACTIONS:  # the same
            del data["ladder"], data["ladder_fractions"]
        return data

    def statistics(self) -> frozenset[str] | None:
        """What :class:`~valuelocate.stats.NeuronStats` keeps: the method's ``needs``, or
        everything (None) with ``all_statistics``."""
        if self.all_statistics:
            return None
        needs = getattr(get_method(self.method), "needs", None)
        return None if needs is None else frozenset(needs)
