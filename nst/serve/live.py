"""What a running job shows the people watching it: progress, a loss curve and preview frames.

The run's thread writes here after every chunk of steps and returns at once; the server's
event loop reads the latest state when it has time. A watcher that is slow to read skips
to the newest state, so no client can hold up an optimisation.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nst.events import Progress, ScaleDone, Started


@dataclass
class LiveJob:
    """One running job's latest state. ``version`` counts its changes; ``frame_count`` its
    preview frames."""

    progress: dict[str, Any] = field(default_factory=dict)
    points: list[tuple[int, float]] = field(default_factory=list)  # (step, total loss)
    frame: bytes | None = None  # the latest preview, JPEG
    pixels: np.ndarray | None = None  # the latest image, H x W x 3 uint8
    frame_count: int = 0
    version: int = 0
    note: str = ""  # the engine's last log line
    lock: threading.Lock = field(default_factory=threading.Lock)
    _scale_start: tuple[int, float] = (0, 0.0)  # (step, seconds) where this scale began
    _seconds: float = 0.0

    def started(self, event: Started) -> None:
        with self.lock:
            self.progress = {
                "step": 0,
                "total": event.total,
                "scale": 0,
                "sizes": list(event.sizes),
                "steps": list(event.steps),
                "losses": {},
                "seconds": 0.0,
                "steps_per_second": None,
                "seconds_left": None,
                "backend": event.backend,
                "device": event.device,
                # On the server's clock: when the first step began, when the first report came.
                "started_at": time.time(),
                "first_report_at": None,
            }
            self.version += 1

    def advanced(self, event: Progress) -> None:
        with self.lock:
            first_step, first_seconds = self._scale_start
            rate = None
            if event.seconds > first_seconds and event.step > first_step:
                rate = (event.step - first_step) / (event.seconds - first_seconds)
            if self.progress.get("first_report_at") is None:
                self.progress["first_report_at"] = time.time()
            self.progress.update(
                step=event.step,
                total=event.total,
                scale=event.scale,
                losses=event.losses,
                seconds=event.seconds,
                steps_per_second=rate,
                seconds_left=self._seconds_left(event, rate),
            )
            self.points.append((event.step, event.losses.get("total", float("nan"))))
            self._seconds = event.seconds
            self.version += 1

    def scale_done(self, event: ScaleDone) -> None:
        with self.lock:
            self._scale_start = (event.step, self._seconds)

    def _seconds_left(self, event: Progress, rate: float | None) -> float | None:
        """The rest of this scale at its rate, and each later scale's steps at that rate
        slowed by its larger pixel count."""
        if not rate:
            return None
        sizes, steps = self.progress["sizes"], self.progress["steps"]
        left_here = sum(steps[: event.scale + 1]) - event.step
        later = sum(
            n * (size / sizes[event.scale]) ** 2
            for size, n in zip(sizes[event.scale + 1 :], steps[event.scale + 1 :])
        )
        return (left_here + later) / rate

    def show(self, frame: bytes, pixels: np.ndarray) -> None:
        with self.lock:
            self.frame, self.pixels = frame, pixels
            self.frame_count += 1
            self.version += 1

    def latest_frame(self) -> tuple[int, bytes | None]:
        with self.lock:
            return self.frame_count, self.frame

    def noted(self, line: str) -> None:
        with self.lock:
            self.note = line
            self.version += 1

    def state(self, since_point: int = 0) -> dict[str, Any]:
        """Progress as JSON, with the loss points from index ``since_point`` on."""
        with self.lock:
            return {
                **self.progress,
                "note": self.note,
                "frames": self.frame_count,
                "points": [[step, _finite_or_none(loss)] for step, loss in self.points[since_point:]],
                "point_count": len(self.points),
            }


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


@dataclass(eq=False)
class Watcher:
    """One WebSocket's wake-up call, set from any thread."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:  # the loop has closed: nobody is watching any more
            pass


class Hub:
    """The live state of running jobs, and who watches which job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, LiveJob] = {}
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)

    def open(self, job_id: str) -> LiveJob:
        live = LiveJob()
        with self._lock:
            self._live[job_id] = live
        return live

    def get(self, job_id: str) -> LiveJob | None:
        with self._lock:
            return self._live.get(job_id)

    def close(self, job_id: str) -> None:
        with self._lock:
            self._live.pop(job_id, None)

    def watch(self, job_id: str) -> Watcher:
        watcher = Watcher(asyncio.get_running_loop())
        with self._lock:
            self._watchers[job_id].add(watcher)
        return watcher

    def unwatch(self, job_id: str, watcher: Watcher) -> None:
        with self._lock:
            self._watchers[job_id].discard(watcher)
            if not self._watchers[job_id]:
                del self._watchers[job_id]

    def changed(self, job_id: str) -> None:
        with self._lock:
            watchers = list(self._watchers.get(job_id, ()))
        for watcher in watchers:
            watcher.wake()

    def changed_all(self) -> None:
        """Every watched job may have changed: the queue moved."""
        with self._lock:
            watchers = [w for group in self._watchers.values() for w in group]
        for watcher in watchers:
            watcher.wake()
