"""The comparison grid: which contrast source, selection and edit rule steer best at equal cost.

Usage:

1. Describe the cells: ``Config("desc-band", contrast="descriptions", selection="band",
   rule="mean-diff", band=tuple(range(8, 23)))``; the residual reference is
   ``rule="residual"`` with ``layer``, the prompt baseline ``rule="prompt"``.
2. ``grid = Grid(lm, items_by_dimension, budget=1.10)`` measures the unedited readings and
   the neutral-text reference once.
3. ``rows = grid.run(config, dimension)`` returns one :class:`GridRow` per pole: the gamma at
   which the edit reaches the budget (bisection), the forced-choice shift toward the pole with
   its 95% CI, the share of items moved the wrong way, the paired p-value against the matched
   control at the same gamma, the perplexity ratio, and (``selectivity=True``) the steered
   dimension's shift minus the mean absolute shift of the other three.
4. ``write_rows(rows, out_dir)`` (:mod:`valuelocate.comparison.rows`) writes ``grid.json``
   and ``grid.csv``.

Sources: ``descriptions`` and ``pairs`` (:mod:`valuelocate.locating.contrast`) and
``generated`` (a locate run's ``stats/{dimension}.{pole}.safetensors``). Selections:
``delta-p``, ``cohens-d``, ``mean-diff`` (:mod:`valuelocate.selection`, unchanged) or ``band``
(every neuron of the band's layers). Rules: any of :mod:`valuelocate.steering.rules`
(``mean-diff``, ``dynamic`` (the study's), ``residual``, ``prompt`` ...); ``word-priming``
(the words-not-values null) biases the logits by the ``pairs`` source's answers' log-odds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from valuelocate.architectures import model_shape
from valuelocate.artifacts import load_neuron_sets
from valuelocate.comparison.forced_choice import (
    ForcedChoiceLike,
    direction,
    likelihood_reading,
    summarize_shift,
)
from valuelocate.comparison.rows import GridRow
from valuelocate.data import DIMENSIONS, POLES, load_descriptions, load_neutral_texts
from valuelocate.data.forced_choice import load_forced_choice
from valuelocate.locating.contrast import description_stats, pair_stats, text_stats
from valuelocate.models import LoadedModel
from valuelocate.prompting import answer_text
from valuelocate.selection import Selection, get_method
from valuelocate.stats import NeuronStats
from valuelocate.steering.budget import CostKind, NeutralCost, find_gamma
from valuelocate.steering.residual import residual_mean_difference
from valuelocate.steering.rules import Built, Inputs, get_rule
from valuelocate.steering.word_priming import output_module, unigram_log_odds
from valuelocate.vocab import Site

PROMPT_TEMPLATE = (
    'Imagine you are someone who would say: "{description}" Answer as this person would.\n\n'
)


@dataclass(frozen=True)
class Config:
    """One cell of the grid.

    Attributes:
        name: a short label for tables.
        contrast: ``descriptions``, ``pairs``, ``generated`` (needs ``run_dir``) or ``none``.
        selection: ``delta-p``, ``cohens-d``, ``mean-diff``, ``band``, ``located`` (the
            neuron sets of the locate run ``run_dir``, as located) or ``none``.
        rule: a rule of :mod:`valuelocate.steering.rules` (``mean-diff``, ``dynamic``,
            ``residual``, ``prompt`` ...).
        band: the layers of a ``band`` selection.
        layer: the residual stream's layer (``residual``).
        params: the selection method's parameters.
        run_dir: a locate run holding ``stats/`` (``generated``).
        site: where the contrast reads the neurons and the edit writes them: ``act`` or
            ``down_in`` (the down projection's input, where a constant addition is exactly a
            residual-stream vector: what a llama.cpp control vector can hold).
    """

    name: str
    contrast: str
    selection: str
    rule: str
    band: tuple[int, ...] = ()
    layer: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    site: Site = "act"


def prompt_prefix(dimension: str, pole: str) -> str:
    """The prompt baseline: the first of the pole's descriptions as a persona."""
    description = load_descriptions(dimension=dimension, pole=pole)[0].text.strip()
    return PROMPT_TEMPLATE.format(description=description)


class Grid:
    """Runs cells of the comparison on one model against shared unedited readings.

    Args:
        lm: the model.
        items: dimension -> forced-choice items (the search split while choosing).
        budget: the cost budget (perplexity ratio 1.10 by default; ``cost_kind="kl"`` for a
            mean token KL in nats).
        pairs_items: dimension -> search items for the ``pairs`` source (never dev or test
            items).
        neutral_texts: the texts of the cost measure (default: the shipped neutral texts).
        start_gamma, steps: the bisection's first gamma and bisection steps.
        hist_bins: histogram bins of the contrast statistics (3 keeps p and the means exact
            and is much cheaper; q95 then is coarse).
        chat_template: read items and contrast texts through the chat template when the
            tokenizer has one (``False`` for a base model: raw text).
        seed: seed of the controls' permutations and draws, the bootstraps and the paired
            tests.
        progress: called with a line of text after each step.
    """

    def __init__(
        self,
        lm: LoadedModel,
        items: Mapping[str, Sequence[ForcedChoiceLike]],
        *,
        budget: float = 1.10,
        cost_kind: CostKind = "ppl",
        pairs_items: Mapping[str, Sequence[ForcedChoiceLike]] | None = None,
        neutral_texts: Sequence[str] | None = None,
        start_gamma: float = 1.0,
        steps: int = 4,
        hist_bins: int = 3,
        chat_template: bool = True,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.lm = lm
        self.items = dict(items)
        self.budget = budget
        self.pairs_items = dict(pairs_items or {})
        texts = list(neutral_texts) if neutral_texts is not None else load_neutral_texts()
        self.cost = NeutralCost(lm, kind=cost_kind, texts=texts)
        self.start_gamma = start_gamma
        self.steps = steps
        self.hist_bins = hist_bins
        self.chat_template = chat_template
        self.seed = seed
        self.progress = progress or (lambda _line: None)
        self.base = {d: self.read(its).numpy() for d, its in self.items.items()}
        self._stats: dict[tuple[str, str, str], dict[str, NeuronStats]] = {}
        self._residual: dict[tuple[str, int], torch.Tensor] = {}
        self._log_odds: dict[str, torch.Tensor] = {}

    def read(self, items: Sequence[ForcedChoiceLike], **kwargs: Any) -> torch.Tensor:
        """The forced-choice likelihood reading of ``items`` with this grid's template use."""
        return likelihood_reading(self.lm, items, chat_template=self.chat_template, **kwargs)

    # ---------------------------------------------------------------- contrast

    def stats(self, config: Config, dimension: str) -> dict[str, NeuronStats]:
        """The two poles' statistics of ``config.contrast`` for ``dimension`` (cached)."""
        key = (
            config.contrast if config.contrast != "generated" else str(config.run_dir),
            dimension,
            config.site,
        )
        if key not in self._stats:
            self._stats[key] = self._compute_stats(config, dimension)
        return self._stats[key]

    def _compute_stats(self, config: Config, dimension: str) -> dict[str, NeuronStats]:
        if config.contrast == "descriptions":
            shape = model_shape(self.lm.model)
            out = {}
            for pole in POLES:
                texts = [d.text for d in load_descriptions(dimension=dimension, pole=pole)]
                stats = NeuronStats(
                    shape.num_layers, shape.neurons_per_layer, hist_bins=self.hist_bins
                )
                out[pole] = text_stats(
                    self.lm, texts, stats=stats, site=config.site, chat_template=self.chat_template
                )
            return out
        if config.contrast == "pairs":
            return pair_stats(
                self.lm,
                self.pairs_items[dimension],
                site=config.site,
                chat_template=self.chat_template,
            )
        if config.contrast == "generated":
            if config.site != "act":
                raise ValueError("The generated source is read where its run located (act)")
            if config.run_dir is None:
                raise ValueError("The generated source needs a locate run's directory")
            folder = Path(config.run_dir) / "stats"
            return {p: NeuronStats.load(folder / f"{dimension}.{p}.safetensors") for p in POLES}
        if config.contrast == "descriptions-full":  # full histogram (for q95)
            if config.site != "act":
                raise ValueError("The descriptions-full source reads the act site only")
            return description_stats(self.lm, dimension, chat_template=self.chat_template)
        raise ValueError(f"Unknown contrast source {config.contrast!r}")

    # ---------------------------------------------------------------- edits

    def factories(self, config: Config, dimension: str, pole: str) -> Built:
        """``(edit(gamma), control(gamma), neurons edited)`` of one cell and direction."""
        rule = get_rule(config.rule)
        band = config.band if config.selection == "band" else None
        inputs = Inputs(
            band=band, seed=self.seed, v=str(config.params.get("v", "p")), site=config.site
        )
        if "residual" in rule.needs:
            inputs = replace(inputs, residual=self._residual_vector(config, dimension))
        if "stats" in rule.needs:
            inputs = replace(inputs, stats=self.stats(config, dimension))
        if "answer_log_odds" in rule.needs:
            inputs = replace(inputs, answer_log_odds=self._answer_log_odds(config, dimension))
        if "selection" in rule.needs and band is None:
            inputs = replace(inputs, selection=self._select(config, dimension))
        return rule.factories(inputs, pole)

    def _residual_vector(self, config: Config, dimension: str) -> tuple[torch.Tensor, int]:
        """The affirm-minus-oppose residual vector at ``config.layer`` (read once: the other
        pole and the dev split reuse it)."""
        if config.layer is None:
            raise ValueError("The residual rule needs a layer")
        key = (dimension, config.layer)
        if key not in self._residual:
            texts = {
                p: [d.text for d in load_descriptions(dimension=dimension, pole=p)] for p in POLES
            }
            self._residual[key] = residual_mean_difference(
                self.lm,
                texts["affirm"],
                texts["oppose"],
                layer=config.layer,
                chat_template=self.chat_template,
            )
        return self._residual[key], config.layer

    def _answer_log_odds(self, config: Config, dimension: str) -> torch.Tensor:
        """The unigram log-odds of each token between the affirming and the opposing answers
        of the ``pairs`` source's search items (the items it locates on, never the scored,
        dev or test ones), each answer tokenized as the reading scores it (cached)."""
        if config.contrast != "pairs":
            raise ValueError("The word-priming rule reads the pairs source's answers")
        if dimension not in self._log_odds:
            items = self.pairs_items[dimension]
            if any(getattr(item, "split", "search") in ("dev", "test") for item in items):
                raise ValueError("Dev- and test-split items never build an edit; pass search items")
            texts = {
                pole: [
                    answer_text(self.lm, getattr(i, pole), chat_template=self.chat_template)
                    for i in items
                ]
                for pole in POLES
            }
            weight = getattr(output_module(self.lm.model), "weight", None)
            size = weight.shape[0] if isinstance(weight, torch.Tensor) else None
            self._log_odds[dimension] = unigram_log_odds(
                self.lm.tokenizer, texts["affirm"], texts["oppose"], vocab_size=size
            )
        return self._log_odds[dimension]

    def _select(self, config: Config, dimension: str) -> Selection:
        if config.selection == "located":  # the neuron sets a locate run chose
            if config.run_dir is None:
                raise ValueError("The located selection needs a locate run's directory")
            return load_neuron_sets(config.run_dir)[dimension]
        stats = self.stats(config, dimension)
        params = {k: v for k, v in config.params.items() if k != "v"}
        return get_method(config.selection)(**params)(stats["affirm"], stats["oppose"])

    # ---------------------------------------------------------------- one cell

    def run(self, config: Config, dimension: str, *, selectivity: bool = False) -> list[GridRow]:
        """Both poles of one dimension for one cell."""
        rows = []
        for pole in POLES:
            began = time.monotonic()
            rows.append(self._run_pole(config, dimension, pole, selectivity))
            row = rows[-1]
            rows[-1] = GridRow(**{**asdict(row), "seconds": time.monotonic() - began})
            self.progress(
                f"{config.name} {dimension}.{pole}: gamma {row.gamma:.3g} cost {row.cost:.3f} "
                f"shift {row.shift:+.4f} [{row.ci_low:+.4f}, {row.ci_high:+.4f}] control "
                f"{row.control_shift:+.4f} p {row.p_control:.2g} ({time.monotonic() - began:.0f} s)"
            )
        return rows

    def _run_pole(self, config: Config, dimension: str, pole: str, selectivity: bool) -> GridRow:
        items = self.items[dimension]
        baseline = not get_rule(config.rule).edits  # the prompt baseline: a prefix, no edit
        if baseline:
            prefix = prompt_prefix(dimension, pole)
            edited = self.read(items, prefix=prefix).numpy()
            summary = summarize_shift(edited - self.base[dimension], toward=pole, seed=self.seed)
            gamma, cost, reached, neurons = math.nan, math.nan, False, 0
            control_reading = None
        else:
            make, make_control, neurons = self.factories(config, dimension, pole)
            found = find_gamma(
                lambda g: self.cost(make(g)),
                budget=self.budget,
                start=self.start_gamma,
                steps=self.steps,
                neutral=self.cost.neutral_level,
            )
            gamma, cost, reached = found.gamma, found.cost, found.reached
            edit = make(gamma)
            if gamma == 0.0:
                # Every gamma tried was over budget. Gamma 0 is not always "no edit" (the
                # study's rule still clamps the other pole's neurons), so measure its cost
                # rather than assume the unedited one.
                cost = self.cost(edit)
            edited = self.read(items, edit=edit).numpy()
            control_reading = self.read(items, edit=make_control(gamma)).numpy()
            summary = summarize_shift(
                edited - self.base[dimension],
                toward=pole,
                control=control_reading - self.base[dimension],
                seed=self.seed,
            )
        select = math.nan
        if selectivity:
            others = []
            for other_dim, other_items in self.items.items():
                if other_dim == dimension:
                    continue
                if baseline:
                    reading = self.read(other_items, prefix=prompt_prefix(dimension, pole))
                else:
                    reading = self.read(other_items, edit=edit)
                others.append(abs(float(np.mean(reading.numpy() - self.base[other_dim]))))
            select = (
                direction(pole) * summary.shift - float(np.mean(others)) if others else math.nan
            )
        return GridRow(
            config=config.name,
            contrast=config.contrast,
            selection=config.selection,
            rule=config.rule,
            dimension=dimension,
            pole=pole,
            gamma=gamma,
            cost=cost,
            budget_reached=reached,
            n=summary.n,
            shift=summary.shift,
            ci_low=summary.ci_low,
            ci_high=summary.ci_high,
            wrong_way=summary.wrong_way,
            control_shift=summary.control_shift,
            p_control=summary.p_control,
            selectivity=select,
            neurons=neurons,
            seconds=0.0,
        )


def study_rows(
    run_dir: Path,
    lm: LoadedModel,
    dimensions: Sequence[str],
    options: Any,
    chat_template: bool,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """The study's rule (generated contrast, delta-p, dynamic gamma) on the run's located sets,
    read on the dev split against its random control: the replication row."""
    items = {
        d: sorted(load_forced_choice(dimension=d, split="dev"), key=lambda i: i.id)
        for d in dimensions
    }
    budget = options.budget_spec()
    grid = Grid(
        lm, items, budget=budget.level, cost_kind=budget.kind,
        neutral_texts=load_neutral_texts()[: options.neutral_texts],
        start_gamma=options.start_gamma, steps=options.steps, chat_template=chat_template,
        progress=say,
    )  # fmt: skip
    config = Config(
        "study", "generated", "located", "dynamic", params={"v": "q95"}, run_dir=str(run_dir)
    )
    return [asdict(row) for d in dimensions for row in grid.run(config, d)]


__all__ = ["DIMENSIONS", "Config", "Grid", "GridRow", "prompt_prefix", "study_rows"]
