"""What a run tells the world while it runs: one typed stream of events.

The engine emits them in this order: ``Started``, then ``Progress`` after every chunk of steps
and ``ScaleDone`` after every scale, then ``Finished`` (or ``Failed`` when an error ends the
run). The CLI's progress bar, the library's callback, the batch manifest and the studio's
WebSocket all consume this stream; none of them reaches into the run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class Stopped(str, enum.Enum):
    """How a run ended."""

    COMPLETED = "completed"  # all steps ran
    INTERRUPTED = "interrupted"  # Ctrl-C
    STOPPED = "stopped"  # the caller's stop request (the studio's Stop button)
    NON_FINITE = "non-finite"  # the loss diverged; the image is the last finite iterate


@dataclass(frozen=True)
class Started:
    """The run's schedule: longest side and steps of each scale, coarsest first."""

    sizes: tuple[int, ...]
    steps: tuple[int, ...]
    backend: str
    device: str

    @property
    def total(self) -> int:
        return sum(self.steps)


@dataclass(frozen=True)
class Progress:
    """After each chunk of steps: the step count over all scales so far, the loss terms of the
    chunk's last iterate, the seconds of optimisation so far (compilation excluded), and the
    current image as the user would get it (computed only when called)."""

    step: int
    total: int
    losses: dict[str, float]
    seconds: float
    image: Callable[[], np.ndarray]
    scale: int = 0  # index of the scale, coarsest 0
    size: int = 0  # that scale's longest side in px
    item: int = 0  # which image of a batch (0 for a single run)


@dataclass(frozen=True)
class ScaleDone:
    scale: int
    size: int
    step: int  # steps over all scales so far


@dataclass(frozen=True)
class Finished:
    steps: int
    stopped: Stopped
    seconds: float


@dataclass(frozen=True)
class Failed:
    """An error ended the run; ``reason`` is the one line the CLI would print."""

    reason: str


Event = Started | Progress | ScaleDone | Finished | Failed
OnEvent = Callable[[Event], None]
