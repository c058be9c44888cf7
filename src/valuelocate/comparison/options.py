"""The options and the standard cells of ``valuelocate compare``, written once.

The command line's flags, :func:`~valuelocate.comparison.run.compare`'s options and the
``compare.json`` record all come from :class:`CompareOptions`. The cells are built for the
model's layer count (:func:`standard_cells`): the band of a band edit and the residual
reference's layer scale with depth, so that ``--band auto`` means layers 8-22 and the residual
layer 15 on a 30-layer model.

Example:
    >>> options = CompareOptions(dimensions=("conservation",), cells=("desc+band+mean-diff",))
    >>> options.validate()
    >>> [c.name for c in options.cells_for(30)]
    ['desc+band+mean-diff']
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from valuelocate.comparison.grid import Config
from valuelocate.evaluation.options import parse_dimensions, parse_names
from valuelocate.locating.ladder import default_band as band_layers
from valuelocate.optionspec import option
from valuelocate.steering.budget import BudgetSearchOptions
from valuelocate.vocab import DIMENSIONS, POLES

# The study's rule: contrast of generated answers, delta-p selection, dynamic edit.
STUDY_CELL = "located+dynamic"
PROMPT_CELL = "prompt-baseline"
# The word-priming null (METHOD.md section 8): a logit bias by the pairs source's answers'
# unigram log-odds. A null to beat, not a candidate: run only when named in --cells, never
# offered by "all" and never chosen.
WORD_PRIMING_CELL = "pairs+word-priming"


def default_band(num_layers: int) -> tuple[int, int]:
    """The first and last layer of the default band: layers 8-22 of a 30-layer model, scaled
    (the middle of the network, where the issue's probe found value directions; the one rule
    is :func:`valuelocate.locating.ladder.default_band`, which the located ladders use)."""
    layers = band_layers(num_layers)
    return layers[0], layers[-1]


def default_layer(num_layers: int) -> int:
    """The residual reference's default layer: the middle one (15 of 30)."""
    return round(num_layers / 2)


def standard_cells(
    num_layers: int,
    *,
    band: tuple[int, int] | None = None,
    layer: int | None = None,
    run_dir: str | Path | None = None,
    controls: bool = False,
) -> list[Config]:
    """The grid's cells in their priority order (``--cells N`` of the benchmark runs the first
    N): the issue's lead, the prompt baseline, the residual reference, then the other
    source/selection/rule combinations; with ``run_dir`` (a locate run) also the cells on
    its ``generated`` statistics, among them the study's rule; with ``controls`` last the
    null cells (:data:`CONTROL_CELLS`: the word-priming control), which run only when named.

    Names have no spaces or brackets, so that they can be listed in ``--cells``.
    """
    first, last = band if band is not None else default_band(num_layers)
    layers = tuple(range(first, last + 1))
    at = default_layer(num_layers) if layer is None else layer
    cells = [
        Config("desc+band+mean-diff", "descriptions", "band", "mean-diff", band=layers),
        Config(PROMPT_CELL, "none", "none", "prompt"),
        Config("desc+residual", "descriptions", "none", "residual", layer=at),
        Config("pairs+band+mean-diff", "pairs", "band", "mean-diff", band=layers),
        Config(
            "desc+mean-diff-1pct+mean-diff",
            "descriptions",
            "mean-diff",
            "mean-diff",
            params={"top_k": 0.01},
        ),
        Config("desc+delta-p+dynamic", "descriptions", "delta-p", "dynamic", params={"v": "p"}),
        Config(
            "desc+cohens-d+mean-diff", "descriptions", "cohens-d", "mean-diff", params={"q": 0.01}
        ),  # fmt: skip
        Config("desc+delta-p+mean-diff", "descriptions", "delta-p", "mean-diff"),
        # The lead at the down projection's input: a constant addition there is exactly a
        # residual-stream vector (an exact llama.cpp control vector; docs/llamacpp.md).
        Config(
            "desc+band+mean-diff@down_in",
            "descriptions",
            "band",
            "mean-diff",
            band=layers,
            site="down_in",
        ),
    ]
    if run_dir is not None:
        where = str(run_dir)
        cells += [
            # The study's rule on the neuron sets the run located, with the run's own method and
            # settings; its statistics keep full histograms, so the q95 push is exact.
            Config(
                STUDY_CELL, "generated", "located", "dynamic", params={"v": "q95"}, run_dir=where
            ),  # fmt: skip
            Config(
                "generated+band+mean-diff",
                "generated",
                "band",
                "mean-diff",
                band=layers,
                run_dir=where,
            ),  # fmt: skip
        ]
    if controls:
        cells.append(Config(WORD_PRIMING_CELL, "pairs", "none", "word-priming"))
    return cells


CELL_NAMES: tuple[str, ...] = tuple(c.name for c in standard_cells(30, run_dir="-", controls=True))
GENERATED_CELLS = frozenset(c.name for c in standard_cells(30, run_dir="-") if c.run_dir)
# Nulls, not candidates: run only when --cells names them, never ranked or chosen.
CONTROL_CELLS = frozenset({WORD_PRIMING_CELL})


# --cells: None means every standard cell the options allow.
parse_cells = parse_names


def parse_layer(text: str | int | None) -> int | None:
    """``"auto"`` -> ``None`` (the middle layer); else a layer index."""
    if text is None or isinstance(text, int):
        return text
    if text.strip() in ("auto", ""):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"--layer takes a layer index or auto, got {text!r}") from exc


def parse_band(text: str) -> tuple[int, int] | None:
    """``"auto"`` -> ``None``; ``"8-22"`` -> ``(8, 22)``.

    Raises:
        ValueError: naming ``--band``.
    """
    if text.strip() in ("auto", ""):
        return None
    first, dash, last = text.strip().partition("-")
    try:
        pair = (int(first), int(last))
    except ValueError:
        pair = (-1, -1)
    if not dash or pair[0] < 0 or pair[1] < pair[0]:
        raise ValueError(f"--band takes FIRST-LAST layers (e.g. 8-22) or auto, got {text!r}")
    return pair


@dataclass(frozen=True)
class CompareOptions(BudgetSearchOptions):
    """Everything that decides a comparison's numbers (written into ``compare.json``); the
    budget search's options (``budget``, ``steps``, ``start_gamma``) are
    :class:`~valuelocate.steering.budget.BudgetSearchOptions`, shared with the verdict."""

    model: str = option(
        "default", "Model: 'default' (embedded SmolLM2-135M-Instruct), a folder or a hub id."
    )
    cells: tuple[str, ...] | None = option(
        None,
        f"Comma-separated cells, or 'all' (the generated ones need --run-dir; 'all' leaves "
        f"out the null {WORD_PRIMING_CELL}, run only when named): "
        f"{', '.join(CELL_NAMES)}.",
        parse=parse_cells,
    )
    dimensions: tuple[str, ...] | None = option(
        None, "Comma-separated dimensions, or 'all'.", parse=parse_dimensions
    )
    items_per_dimension: int = option(
        20, "Search-split forced-choice items per dimension (choosing the cell).", min=1
    )
    test_items: int = option(
        40, "Dev-split items per dimension (the chosen cell's check only).", min=1
    )
    neutral_texts: int = option(12, "Neutral texts of the cost measure.", min=1)
    band: str = option("auto", "FIRST-LAST layers of band edits, or auto (8-22 of 30, scaled).")
    layer: int | None = option(
        None,
        "Layer of the residual reference, or auto (the middle one).",
        parse=parse_layer,
        text="auto",
    )
    run_dir: str | None = option(
        None, "A locate run whose stats/ feed the generated cells (the study's rule)."
    )
    selectivity: bool = option(
        False, "Also read the other dimensions' items under each edit (selectivity; slower)."
    )
    skip_test: bool = option(False, "Stop after the search split (no dev-split check).")
    also_test: tuple[str, ...] | None = option(
        None,
        "Comma-separated cells also read on the dev split beside the chosen one (reported "
        "side by side, never chosen), e.g. located+dynamic.",
        parse=parse_cells,
    )
    chat_template: bool = option(
        True, "Read items and contrast texts through the chat template (off: raw text)."
    )
    minutes: float = option(0.0, "Start no new cell after this many minutes (0: no limit).",
                            min=0.0)  # fmt: skip
    seed: int = option(0, "Seed of the controls, bootstraps and permutation tests.")

    def validate(self) -> None:
        """Raise ValueError naming the bad option (no model needed)."""
        for dimension in self.dimensions or ():
            if dimension not in DIMENSIONS:
                raise ValueError(
                    f"Unknown --dimensions {dimension!r}; expected some of: {', '.join(DIMENSIONS)}"
                )
        if self.cells is not None and not self.cells:
            raise ValueError("--cells needs at least one cell name, or all")
        for cell in (*(self.cells or ()), *(self.also_test or ())):
            if cell not in CELL_NAMES:
                raise ValueError(
                    f"Unknown --cells {cell!r}; expected some of: {', '.join(CELL_NAMES)}"
                )
            if cell in GENERATED_CELLS and self.run_dir is None:
                raise ValueError(f"--cells {cell} needs --run-dir (a locate run's stats/)")
        self.budget_spec()
        parse_band(self.band)
        if self.layer is not None and self.layer < 0:
            raise ValueError(f"--layer must be >= 0, got {self.layer}")
        if min(self.items_per_dimension, self.test_items, self.neutral_texts) < 1:
            raise ValueError("--items-per-dimension, --test-items and --neutral-texts must be >= 1")
        if self.steps < 0 or not self.start_gamma > 0 or self.minutes < 0:
            raise ValueError("--steps and --minutes must be >= 0, --start-gamma > 0")
        if self.run_dir is not None:
            manifest = Path(self.run_dir) / "manifest.json"
            if manifest.is_file():
                site = json.loads(manifest.read_text(encoding="utf-8")).get("options", {})
                if site.get("site", "act") != "act":
                    raise ValueError(
                        f"--run-dir {self.run_dir} located at site {site['site']!r}; "
                        "compare edits the act site (locate with --site act)"
                    )
            stats = Path(self.run_dir) / "stats"
            for dimension in self.dimensions or DIMENSIONS:
                for pole in POLES:
                    if not (stats / f"{dimension}.{pole}.safetensors").is_file():
                        raise ValueError(
                            f"--run-dir {self.run_dir}: no stats/{dimension}.{pole}.safetensors "
                            "(locate that dimension first)"
                        )

    def cells_for(self, num_layers: int) -> list[Config]:
        """The chosen cells, built for a model of ``num_layers`` layers.

        Raises:
            ValueError: ``--band`` or ``--layer`` outside the model's layers.
        """
        band = parse_band(self.band)
        top = num_layers - 1
        if band is not None and band[1] > top:
            raise ValueError(f"--band {self.band} is outside the model's layers 0-{top}")
        if self.layer is not None and self.layer > top:
            raise ValueError(f"--layer {self.layer} is outside the model's layers 0-{top}")
        cells = standard_cells(
            num_layers, band=band, layer=self.layer, run_dir=self.run_dir, controls=True
        )
        if self.cells is None:  # "all": every candidate, no null
            return [c for c in cells if c.name not in CONTROL_CELLS]
        by_name = {c.name: c for c in cells}
        return [by_name[name] for name in dict.fromkeys(self.cells)]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("cells", "dimensions"):
            data[key] = None if data[key] is None else list(data[key])
        return data
