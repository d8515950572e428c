"""The kinds of value an option takes: how the CLI parses one from text and how the library
checks one given as a Python value.

Each ``Config`` field names its kind in its metadata, so the CLI and the checks follow the
field's declaration rather than its annotation's spelling.
"""

from __future__ import annotations

import argparse
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nst.errors import NstError


def number(kind: type) -> Callable[[str], Any]:
    """argparse's type for one int or float, with a readable error."""

    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            whole = "whole " if kind is int else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not a {whole}number") from None

    parse.__name__ = kind.__name__
    return parse


def whole_numbers(text: str) -> tuple[int, ...]:
    """'300,200' -> (300, 200): argparse's type for step lists (bench's too)."""
    return tuple(number(int)(part) for part in text.split(",") if part.strip())


def decimal_numbers(text: str) -> tuple[float, ...]:
    return tuple(number(float)(part) for part in text.split(",") if part.strip())


def paths(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def weighted_layers(text: str) -> tuple[tuple[str, ...], tuple[float, ...] | None]:
    """'relu1_1,relu2_1:0.5' -> (names, weights or None); a missing weight counts as 1."""
    names: list[str] = []
    weights: list[float | None] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        names.append(name)
        weights.append(number(float)(weight) if weight else None)
    if all(w is None for w in weights):
        return tuple(names), None
    return tuple(names), tuple(1.0 if w is None else w for w in weights)


@dataclass(frozen=True)
class Scalar:
    """One value: ``accepts`` tells a library value of this kind, ``convert`` normalises it."""

    description: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any]


def _is_number(kind: type) -> Callable[[Any], bool]:
    # numpy's scalars count; bool does not, although Python makes it an int.
    return lambda value: isinstance(value, kind) and not isinstance(value, bool)


WHOLE = Scalar("a whole number", _is_number(numbers.Integral), int)
REAL = Scalar("a float", _is_number(numbers.Real), float)
TEXT = Scalar("a str", lambda value: isinstance(value, (str, os.PathLike)), lambda value: value)
# A word from a fixed set or a number of pixels ('auto', 'off', 512): kept as text.
WORD_OR_WHOLE = Scalar(
    "a str or a whole number",
    lambda value: isinstance(value, (str, numbers.Integral)) and not isinstance(value, bool),
    str,
)
SWITCH = Scalar("a bool", lambda value: isinstance(value, bool), bool)


@dataclass(frozen=True)
class Kind:
    """How one option is parsed on the command line (``parse``; None: a switch) and checked
    when the library is given it (``check``)."""

    item: Scalar
    parse: Callable[[str], Any] | None
    many: bool = False  # a tuple of items; a list is taken too
    optional: bool = False  # None is a value (it means "derive it", see the option's help)

    def check(self, name: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if self.many:
            if isinstance(value, (tuple, list)) and all(self.item.accepts(v) for v in value):
                return tuple(self.item.convert(v) for v in value)
            noun = self.item.description.split()[-1]
            raise NstError(f"option {name} must be a tuple or list of {noun} values, got {value!r}")
        if not self.item.accepts(value):
            raise NstError(f"option {name} must be {self.item.description}, got {value!r}")
        return self.item.convert(value)


INT = Kind(WHOLE, number(int))
FLOAT = Kind(REAL, number(float))
OPTIONAL_FLOAT = Kind(REAL, number(float), optional=True)
STR = Kind(TEXT, str)
WORD_OR_INT = Kind(WORD_OR_WHOLE, str)
FLAG = Kind(SWITCH, None)
OPTIONAL_INTS = Kind(WHOLE, whole_numbers, many=True, optional=True)
OPTIONAL_FLOATS = Kind(REAL, decimal_numbers, many=True, optional=True)
OPTIONAL_PATHS = Kind(TEXT, paths, many=True, optional=True)
# NAME[:WEIGHT] lists: the CLI hands back (names, weights) and fills the weights option too.
LAYERS = Kind(TEXT, weighted_layers, many=True)
