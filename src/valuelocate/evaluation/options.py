"""The options of an evaluation, written once: the CLI's flags, ``evaluate()``'s keyword
arguments and the ``options`` record of ``results.json`` all come from :class:`EvaluateOptions`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from valuelocate.generation import GenerationConfig
from valuelocate.optionspec import option
from valuelocate.steering.dynamic import V_SOURCES
from valuelocate.vocab import DIMENSIONS, SCOPES, Scope, Site


def parse_gammas(text: str | tuple[float, ...]) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> ``(0.0, 0.5, 1.0)``.

    Raises:
        ValueError: an entry is not a number.
    """
    if not isinstance(text, str):
        return tuple(float(g) for g in text)
    try:
        return tuple(float(g) for g in text.split(",") if g.strip())
    except ValueError as exc:
        raise ValueError(f"--gammas takes comma-separated numbers, got {text!r}") from exc


def parse_names(text: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``"all"`` (or empty) -> ``None`` (every one); else the comma-separated names."""
    if text is None or not isinstance(text, str):
        return None if text is None else tuple(text)
    if text.strip() in ("all", ""):
        return None
    return tuple(d.strip() for d in text.split(",") if d.strip())


# --dimensions: None means every located dimension.
parse_dimensions = parse_names


@dataclass(frozen=True)
class EvaluateOptions:
    """Everything that decides an evaluation's numbers (written into ``results.json``).

    Attributes:
        gammas: steering strengths swept by the edit conditions.
        dimensions: steered dimensions; ``None`` takes every dimension of the run.
        judge_prompts: test-split prompts answered per dimension (seeded draw).
        max_new_tokens: answer length.
        temperature: 0 for greedy answers, else seeded sampling at this temperature
            (reproducible for the same options).
        repetition_penalty: as in the locating run's generation (the study: 1.1).
        batch_size: prompts per forward or generate call.
        seed: prompt draw, baseline descriptions, edit draws, bootstrap and permutations.
        v, fraction, clamp: the steering rule's options (see :mod:`valuelocate.steering.dynamic`).
        site: where the run located its neurons (read from its manifest by
            :func:`evaluate`); every edit is applied there.
        edit_scope: positions edited while answering (``generated``, as in the study). The
            questionnaire and the perplexity read the prompt's forward, so they always edit
            with scope ``all`` (scope ``generated`` could not change a next-token read).
        chat_template: use the model's chat template when it has one.
        bootstrap: resamples of every confidence interval.
        permutations: sign flips of every paired test (exact when ``2**n`` is smaller).
        examples: answers kept per (dimension, condition, gamma) for the report.
        min_distinct2, max_word_run, max_char_run: the degenerate-answer rule
            (:func:`is_degenerate`).
    """

    gammas: tuple[float, ...] = option(
        (0.0, 0.5, 1.0, 1.5, 2.0),
        "Comma-separated steering strengths (the study: 0.1 to 2.0).",
        parse=parse_gammas,
    )
    dimensions: tuple[str, ...] | None = option(
        None,
        "Comma-separated steered dimensions, or 'all' (every located one).",
        parse=parse_dimensions,
    )
    judge_prompts: int = option(
        8, "Test-split prompts answered per dimension and condition.", min=1
    )
    max_new_tokens: int = option(48, "Answer length in tokens.", min=1)
    temperature: float = option(
        0.0, "0: greedy answers; else seeded sampling at this temperature.", min=0.0
    )
    repetition_penalty: float = option(1.1, "Generation repetition penalty.")
    batch_size: int = option(40, "Prompts per forward or generate call.", min=1)
    seed: int = option(0, "Seed of every random choice of the evaluation.")
    v: str = option("q95", "Steering push per neuron: q95 (default) or p.")
    fraction: float = option(
        0.9, "Share of pushed neurons edited per forward call.", min=0.0, max=1.0
    )
    clamp: bool = option(True, "Clamp the other pole's neurons to min(a, 0).")
    edit_scope: Scope = option(
        "generated",
        "Positions edited while answering: generated (the study), prompt or all. The "
        "questionnaire and perplexity always edit all positions.",
    )
    site: Site = option(
        "act", "Where the run located its neurons (read from its manifest).", cli=False
    )
    chat_template: bool = option(True, "Use the model's chat template.")
    bootstrap: int = option(1000, "Bootstrap resamples per interval.", min=1)
    permutations: int = option(2000, "Sign flips per paired test.", min=1)
    examples: int = option(2, "Example answers kept per setting.", min=0)
    min_distinct2: float = option(0.5, "Degenerate rule: lowest distinct-2 share of an answer.")
    max_word_run: int = option(3, "Degenerate rule: longest run of one repeated word.")
    max_char_run: int = option(12, "Degenerate rule: longest run of one repeated character.")

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        if not self.gammas:
            raise ValueError("--gammas needs at least one value")
        if self.dimensions is not None:
            unknown = [d for d in self.dimensions if d not in DIMENSIONS]
            if unknown:
                raise ValueError(
                    f"Unknown dimension {unknown[0]!r}; expected some of: {', '.join(DIMENSIONS)}"
                )
        if self.judge_prompts < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("--judge-prompts, --max-new-tokens and --batch-size must be >= 1")
        if self.temperature < 0:
            raise ValueError("--temperature must be >= 0")
        if self.bootstrap < 1 or self.permutations < 1:
            raise ValueError("--bootstrap and --permutations must be >= 1")
        if self.edit_scope not in SCOPES:
            raise ValueError(f"Unknown scope {self.edit_scope!r}; expected one of {SCOPES}")
        if self.v not in V_SOURCES:
            raise ValueError(f"Unknown --v {self.v!r}; expected one of: {', '.join(V_SOURCES)}")

    def generation(self) -> GenerationConfig:
        """The answers' generation settings (the same generator as ``valuelocate steer``)."""
        return GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            repetition_penalty=self.repetition_penalty,
            batch_size=self.batch_size,
            seed=self.seed,
            chat_template=self.chat_template,
            scope=self.edit_scope,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["gammas"] = list(self.gammas)
        data["dimensions"] = None if self.dimensions is None else list(self.dimensions)
        return data
