"""Options written once: a dataclass field declared with :func:`option` carries its help text
and limits, from which the command line (``valuelocate.cli.options``) builds its flags, the
Python API takes keyword arguments (:func:`with_overrides`), and a run records its options
(``dataclasses.asdict``).

Example:
    >>> @dataclass(frozen=True)
    ... class Options:
    ...     seed: int = option(0, "Seed of every random choice.")
    >>> with_overrides(Options(), {"seed": 3}).seed
    3
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def option(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    parse: Callable[[Any], Any] | None = None,
    cli: bool = True,
    flag: str | None = None,
    text: str | None = None,
) -> Any:
    """A dataclass field with what the command line needs to offer it.

    Args:
        default: the default value (immutable: tuples, not lists).
        help: one line for ``--help``.
        min, max: bounds the command line enforces.
        parse: turns the command line's text into the field's value (e.g. ``"0,1,2"`` into
            a tuple); the field is then a text option on the command line.
        cli: ``False`` keeps the field out of the command line (set by the program).
        flag: the flag's name when it is not ``--field-name``.
        text: the default as the command line shows it, for a parsed option (e.g. ``"all"``).
    """
    metadata = {
        "help": help,
        "min": min,
        "max": max,
        "parse": parse,
        "cli": cli,
        "flag": flag,
        "text": text,
    }
    return dataclasses.field(default=default, metadata=metadata)


def with_overrides(options: T, overrides: Mapping[str, Any]) -> T:
    """``options`` with the given fields replaced and parsed; an unknown name is a ValueError
    that lists the known ones."""
    known = {f.name: f for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise ValueError(
            f"Unknown option {unknown[0]!r} for {type(options).__name__}; "
            f"expected some of: {', '.join(known)}"
        )
    values = {}
    for name, value in overrides.items():
        parse = known[name].metadata.get("parse")
        values[name] = parse(value) if parse is not None else value
    return dataclasses.replace(options, **values)  # type: ignore[type-var]
