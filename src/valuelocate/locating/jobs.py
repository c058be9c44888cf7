"""The locating prompts: each dimension's search questions, paired with seeded descriptions of
each pole.

Both poles of a dimension answer the same questions, each paired with a description of its
own pole drawn with a seeded generator, so the contrast between poles is the description's
voice and nothing else.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from valuelocate.data import (
    POLES,
    Description,
    SituationalPrompt,
    dataset_hash,
    load_descriptions,
    load_file,
    load_prompts,
)
from valuelocate.locating.options import LocateOptions
from valuelocate.prompting import locate_text


@dataclass(frozen=True)
class PoleJob:
    """The locating prompts of one (dimension, pole)."""

    dimension: str
    pole: str
    texts: tuple[str, ...]
    prompt_ids: tuple[str, ...]
    description_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.dimension}.{self.pole}"


def load_dataset(
    options: LocateOptions,
) -> tuple[list[SituationalPrompt], list[Description], str]:
    """The search prompts and descriptions to use, and a hash identifying them."""
    records: list[object] = (
        list(load_file(options.prompts_file, "prompts"))
        if options.prompts_file
        else list(load_prompts(split="search"))
    )
    prompts = [p for p in records if isinstance(p, SituationalPrompt) and p.split == "search"]
    records = (
        list(load_file(options.descriptions_file, "descriptions"))
        if options.descriptions_file
        else list(load_descriptions())
    )
    descriptions = [d for d in records if isinstance(d, Description)]
    if options.prompts_file or options.descriptions_file:
        digest = hashlib.sha256()
        for path in (options.prompts_file, options.descriptions_file):
            if path:
                digest.update(Path(path).read_bytes())
        data_hash = "custom:" + digest.hexdigest()
    else:
        data_hash = dataset_hash()
    return prompts, descriptions, data_hash


def build_jobs(
    options: LocateOptions,
    prompts: Sequence[SituationalPrompt],
    descriptions: Sequence[Description],
) -> list[PoleJob]:
    """Pair each dimension's search prompts with seeded descriptions of each pole.

    Raises:
        ValueError: a dimension has no search prompt, or a pole has no description.
    """
    jobs = []
    for dimension in options.dimensions:
        questions = sorted((p for p in prompts if p.dimension == dimension), key=lambda p: p.id)
        if not questions:
            raise ValueError(f"No search prompt for dimension {dimension!r} in the dataset")
        random.Random(f"{options.seed}:{dimension}:prompts").shuffle(questions)
        if options.prompts_per_pole is not None:
            questions = questions[: options.prompts_per_pole]
        for pole in POLES:
            pool = sorted(
                (d for d in descriptions if d.dimension == dimension and d.pole == pole),
                key=lambda d: d.id,
            )
            if not pool:
                raise ValueError(
                    f"Pole {pole!r} of dimension {dimension!r} is empty: the dataset has no "
                    "description for it"
                )
            rng = random.Random(f"{options.seed}:{dimension}:{pole}:descriptions")
            chosen = [rng.choice(pool) for _ in questions]
            jobs.append(
                PoleJob(
                    dimension=dimension,
                    pole=pole,
                    texts=tuple(
                        locate_text(d.text, q.text) for d, q in zip(chosen, questions, strict=True)
                    ),
                    prompt_ids=tuple(q.id for q in questions),
                    description_ids=tuple(d.id for d in chosen),
                )
            )
    return jobs
