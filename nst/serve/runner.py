"""A worker's way into the engine: a ``StyleTransfer`` per job from the job's settings, the
network's weights read once per worker, and the engine's events turned into live state.

This module and ``nst.serve.settings`` are all the studio knows of the engine: ``Config``
through the CLI's parser, ``StyleTransfer.prepare`` and ``run``, and ``nst.events``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nst import StyleTransfer
from nst.events import Event, Progress, ScaleDone, Started
from nst.serve.live import LiveJob
from nst.serve.settings import build_config

log = logging.getLogger("nst.serve")
# At most four previews a second: more is more than an eye follows, and each costs the run
# an image copy.
FRAME_INTERVAL = 0.25


class Runner:
    """Builds each job's StyleTransfer on one device. A job with the settings of the last one
    reuses its transfer (and loaded network); one with the same weights reuses the weights."""

    def __init__(self, device: str):
        self.device = device
        self._last: StyleTransfer | None = None
        self._last_backend: str | None = None
        self._log_line: Callable[[str], None] = log.info

    def transfer(
        self, settings: dict[str, Any], init: Path | None, on_log: Callable[[str], None]
    ) -> StyleTransfer:
        self._log_line = on_log
        options = {**settings, "device": self.device, **({"init": str(init)} if init else {})}
        cfg = build_config(options)
        backend = settings.get("backend")
        last = self._last
        if last is not None and self._last_backend == backend:
            if last.cfg == cfg:
                return last
            if (last.cfg.weights, last.cfg.preprocess) == (cfg.weights, cfg.preprocess):
                return self._keep(StyleTransfer(cfg, backend, weights=last.weights, log=self._log), backend)
        self._last = None  # let the last job's network go before the next one loads
        return self._keep(StyleTransfer(cfg, backend, log=self._log), backend)

    def _keep(self, transfer: StyleTransfer, backend: str | None) -> StyleTransfer:
        self._last, self._last_backend = transfer, backend
        return transfer

    def _log(self, line: str) -> None:
        self._log_line(line)


class EventSink:
    """``on_event`` for one run, called on the run's thread: it updates the live state and,
    at most every FRAME_INTERVAL, hands the current image to ``offer`` and returns."""

    def __init__(
        self, live: LiveJob, changed: Callable[[], None], offer: Callable[[np.ndarray, Progress], None]
    ):
        self.live = live
        self.changed = changed
        self.offer = offer
        self._last_frame = -FRAME_INTERVAL

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self.live.started(event)
        elif isinstance(event, Progress):
            self.live.advanced(event)
            now = time.monotonic()
            if now - self._last_frame >= FRAME_INTERVAL:
                self._last_frame = now
                self.offer(as_pixels(event.image()), event)
        elif isinstance(event, ScaleDone):
            self.live.scale_done(event)
        self.changed()


def as_pixels(image: np.ndarray) -> np.ndarray:
    """An nst image as 8-bit RGB (a copy: the run goes on with its own)."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
