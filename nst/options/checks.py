"""The range an option's value must lie in, declared with the option: one test and the words
that say it, so every refusal reads "--NAME must be WORDS, got VALUE"."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nst.errors import NstError


@dataclass(frozen=True)
class Check:
    holds: Callable[[Any], bool]
    words: str  # what the value must be: 'at least 1'

    def __call__(self, flag: str, value: Any) -> None:
        """Refuse ``value`` of the option ``flag`` ('--size') unless the check holds."""
        if not self.holds(value):
            raise NstError(f"{flag} must be {self.words}, got {value!r}")


def one_of(choices: tuple[str, ...]) -> Check:
    return Check(lambda value: value in choices, f"one of {', '.join(choices)}")


def _finite(test: Callable[[float], bool]) -> Callable[[float], bool]:
    return lambda value: math.isfinite(value) and test(value)


AT_LEAST_1 = Check(lambda value: value >= 1, "at least 1")
ZERO_OR_MORE = Check(lambda value: value >= 0, "0 or more")
NON_NEGATIVE = Check(_finite(lambda value: value >= 0), "a non-negative number")
POSITIVE = Check(_finite(lambda value: value > 0), "a positive number")
SHARE = Check(_finite(lambda value: 0 <= value <= 1), "a share in [0, 1]")
DECAY = Check(_finite(lambda value: 0 <= value < 1), "a decay in [0, 1)")
ALL_AT_LEAST_1 = Check(lambda values: all(n >= 1 for n in values), "whole numbers of at least 1")
ALL_NON_NEGATIVE = Check(
    lambda values: all(math.isfinite(v) and v >= 0 for v in values), "non-negative numbers"
)
PORT = Check(lambda value: 0 <= value <= 65535, "0..65535")
