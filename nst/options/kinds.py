"""The kinds of value an option takes: how the CLI parses one from text and how the library
checks one given as a Python value.

Each option names its kind in its declaration (``nst.options.option``), so the CLI and the
checks follow the declaration rather than its annotation's spelling.
"""

from __future__ import annotations

import argparse
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
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
class Kind:
    """How one option is parsed on the command line (``parse``; None: a switch, given means
    True) and checked when the library is given it: ``accepts`` tells a value of one item,
    ``convert`` normalises it."""

    description: str  # of one item, as a message says it: 'a whole number'
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any]
    parse: Callable[[str], Any] | None
    many: bool = False  # a tuple of items; a list is taken too
    optional: bool = False  # None is a value (it means "derive it", see the option's help)
    hint: str = ""  # how to write a value, after the default in --help

    def check(self, name: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if self.many:
            if isinstance(value, (tuple, list)) and all(self.accepts(v) for v in value):
                return tuple(self.convert(v) for v in value)
            noun = self.description.split()[-1]
            raise NstError(f"option {name} must be a tuple or list of {noun} values, got {value!r}")
        if not self.accepts(value):
            raise NstError(f"option {name} must be {self.description}, got {value!r}")
        return self.convert(value)


def _is_number(kind: type) -> Callable[[Any], bool]:
    # numpy's scalars count; bool does not, although Python makes it an int.
    return lambda value: isinstance(value, kind) and not isinstance(value, bool)


INT = Kind("a whole number", _is_number(numbers.Integral), int, number(int))
FLOAT = Kind("a float", _is_number(numbers.Real), float, number(float))
TEXT = Kind("a str", lambda value: isinstance(value, (str, os.PathLike)), lambda value: value, str)
# A word from a fixed set or a number of pixels ('auto', 'off', 512): kept as text.
WORD_OR_INT = Kind(
    "a str or a whole number",
    lambda value: isinstance(value, (str, numbers.Integral)) and not isinstance(value, bool),
    str,
    str,
)
SWITCH = Kind("a bool", lambda value: isinstance(value, bool), bool, None)
OPTIONAL_FLOAT = replace(FLOAT, optional=True)
OPTIONAL_INTS = replace(INT, parse=whole_numbers, many=True, optional=True)
OPTIONAL_FLOATS = replace(FLOAT, parse=decimal_numbers, many=True, optional=True)
OPTIONAL_PATHS = replace(TEXT, parse=paths, many=True, optional=True)
# NAME[:WEIGHT] lists: the CLI hands back (names, weights) and fills the weights option too.
LAYERS = replace(TEXT, parse=weighted_layers, many=True, hint="NAME:WEIGHT sets a layer's weight")


def auto_or_whole(text: str) -> int | str:
    return text if text == "auto" else number(int)(text)


# 'auto' (the program picks) or a count.
AUTO_OR_INT = Kind(
    "auto or a whole number",
    lambda value: value == "auto" or _is_number(numbers.Integral)(value),
    lambda value: value if value == "auto" else int(value),
    auto_or_whole,
)
