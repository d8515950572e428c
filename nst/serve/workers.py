"""The queue: jobs run one at a time on each device, in the order they came.

One worker thread per device takes the oldest waiting job that may run there. Beside each
worker a preview thread turns the run's latest image into a JPEG frame and, every few
seconds, into the job's snapshot on disk; the run hands it the image and goes on, and an
image the thread had no time for is dropped for the newer one.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from nst.errors import NstError
from nst.events import Progress, Stopped
from nst.serve import store as jobs
from nst.serve.live import Hub, LiveJob
from nst.serve.runner import EventSink, Runner, as_pixels
from nst.serve.settings import sidecar
from nst.serve.store import JobStore

log = logging.getLogger("nst.serve")
PREVIEW_QUALITY = 85
# A running job's snapshot on disk (what a killed server leaves of it): every few seconds, and
# fast to compress, since it is written while the run goes on.
SNAPSHOT_INTERVAL = 5.0
SNAPSHOT_COMPRESSION = 1
THUMBNAIL_SIDE = 320


def encode(pixels: np.ndarray, format: str, **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=format, **options)
    return out.getvalue()


def thumbnail(pixels: np.ndarray) -> bytes:
    pil = Image.fromarray(pixels)
    pil.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    pil.save(out, format="JPEG", quality=PREVIEW_QUALITY)
    return out.getvalue()


@dataclass
class _Offer:
    job_id: str
    live: LiveJob
    pixels: np.ndarray
    step: int
    total: int
    seconds: float


class Previews:
    """A one-slot handoff from a run's thread to a thread that encodes: ``offer`` replaces
    what waits there and never blocks on the encoding."""

    def __init__(self, store: JobStore, hub: Hub):
        self.store, self.hub = store, hub
        self._slot: _Offer | None = None
        self._busy = False
        self._closed = False
        self._snapshot_at: dict[str, float] = {}
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="nst-previews", daemon=True)
        self._thread.start()

    def offer(self, job_id: str, live: LiveJob, pixels: np.ndarray, progress: Progress) -> None:
        with self._cond:
            self._slot = _Offer(job_id, live, pixels, progress.step, progress.total, progress.seconds)
            self._cond.notify_all()

    def flush(self, job_id: str) -> None:
        """Wait until the last offer is encoded; ``job_id`` is done offering."""
        with self._cond:
            self._cond.wait_for(lambda: self._slot is None and not self._busy)
            self._snapshot_at.pop(job_id, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._closed)
                if self._slot is None:
                    return
                offer, self._slot, self._busy = self._slot, None, True
            try:
                self._publish(offer)
            except Exception:  # a full disk must not end the previews of later jobs
                log.exception("job %s: cannot publish a preview", offer.job_id)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _publish(self, offer: _Offer) -> None:
        offer.live.show(encode(offer.pixels, "JPEG", quality=PREVIEW_QUALITY), offer.pixels)
        self.hub.changed(offer.job_id)
        now = time.monotonic()
        if now - self._snapshot_at.get(offer.job_id, -SNAPSHOT_INTERVAL) >= SNAPSHOT_INTERVAL:
            self._snapshot_at[offer.job_id] = now
            snapshot = encode(offer.pixels, "PNG", compress_level=SNAPSHOT_COMPRESSION)
            self.store.write(offer.job_id, "latest.png", snapshot)
            self.store.progress(offer.job_id, offer.step, offer.total, offer.seconds)


class JobQueue:
    """The studio's workers, one per device, and the stop requests of running jobs."""

    def __init__(self, store: JobStore, hub: Hub, devices: list[str], version: str):
        self.store, self.hub, self.devices, self.version = store, hub, devices, version
        self._cond = threading.Condition()
        self._stops: dict[str, threading.Event] = {}
        self._shutting_down = False
        self._workers = [
            threading.Thread(target=self._work, args=(device,), name=f"nst-worker-{device}", daemon=True)
            for device in devices
        ]

    def start(self) -> None:
        for interrupted in self.store.recover():
            log.warning("job %s was running when the server stopped: marked interrupted", interrupted)
        for worker in self._workers:
            worker.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the running jobs (they end 'interrupted', their image kept) and the workers."""
        with self._cond:
            self._shutting_down = True
            for stop in self._stops.values():
                stop.set()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def submitted(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self.hub.changed_all()

    def stop(self, job_id: str) -> None:
        """Stop a running job between chunks, or take a waiting one out of the queue."""
        if self.store.cancel(job_id):
            self.hub.changed_all()
            return
        with self._cond:
            stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()

    def position(self, job_id: str) -> int | None:
        """1 for the next job to run, None for a job that is not waiting."""
        for place, record in enumerate(self.store.queued(), start=1):
            if record["id"] == job_id:
                return place
        return None

    def _next_job(self, device: str) -> tuple[dict[str, Any], threading.Event] | None:
        with self._cond:
            while not self._shutting_down:
                for record in self.store.queued():
                    if record["settings"].get("device", "auto") not in ("auto", device):
                        continue
                    if self.store.claim(record["id"], device):
                        stop = self._stops[record["id"]] = threading.Event()
                        return record, stop
                self._cond.wait()
        return None

    def _work(self, device: str) -> None:
        runner = Runner(device)
        previews = Previews(self.store, self.hub)
        while (claimed := self._next_job(device)) is not None:
            record, stop = claimed
            self.hub.changed_all()
            try:
                self._run(runner, previews, record, stop)
            finally:
                with self._cond:
                    del self._stops[record["id"]]
                self.hub.close(record["id"])
                self.hub.changed_all()
        previews.close()

    def _run(self, runner: Runner, previews: Previews, record: dict[str, Any], stop: threading.Event) -> None:
        job_id = record["id"]
        live = self.hub.open(job_id)

        def on_log(line: str) -> None:
            log.info("job %s: %s", job_id, line)
            live.noted(line)
            self.hub.changed(job_id)

        sink = EventSink(
            live,
            lambda: self.hub.changed(job_id),
            lambda pixels, progress: previews.offer(job_id, live, pixels, progress),
        )
        content = self.store.path(job_id, "content.png")
        styles = [self.store.path(job_id, f"style-{index}.png") for index in range(record["styles"])]
        init = self.store.path(job_id, "init.png") if record["parent"] else None
        started = time.perf_counter()
        step, total, seconds, error = 0, 0, 0.0, None
        try:
            transfer = runner.transfer(record["settings"], init, on_log)
            transfer.prepare(content, styles)
            result = transfer.run(on_event=sink, stop=stop)
            step, total, seconds = result.steps, transfer.total_steps, result.seconds
            state, error = self._outcome(result.stopped, result.steps)
            previews.flush(job_id)
            pixels = as_pixels(result.image)
            keep_as = "result.png" if state in (jobs.DONE, jobs.STOPPED) else "latest.png"
            self.store.write(job_id, keep_as, encode(pixels, "PNG"))
            self.store.write(job_id, "thumbnail.jpg", thumbnail(pixels))
        except NstError as failure:
            state, error = jobs.FAILED, str(failure)
        except Exception as failure:  # a bug or a framework error: this job fails, the studio goes on
            log.exception("job %s failed", job_id)
            state, error = jobs.FAILED, f"{type(failure).__name__}: {failure}"
        previews.flush(job_id)
        if state == jobs.FAILED:
            step, total = max(step, live.progress.get("step", 0)), max(total, live.progress.get("total", 0))
            seconds = seconds or live.progress.get("seconds", time.perf_counter() - started)
        # The sidecar first: a job that reads as finished has it.
        final = {**record, "state": state, "step": step, "total": total, "seconds": seconds, "error": error}
        final["device"] = runner.device
        self.store.write(job_id, "settings.json", _json(sidecar(final, self.version)))
        self.store.finish(job_id, state, step, total, seconds, error)
        log.info("job %s: %s after %d steps%s", job_id, state, step, f" ({error})" if error else "")

    def _outcome(self, stopped: Stopped, steps: int) -> tuple[str, str | None]:
        if stopped is Stopped.COMPLETED:
            return jobs.DONE, None
        if stopped is Stopped.NON_FINITE:
            return jobs.FAILED, (
                f"the loss became non-finite after step {steps}; the image is the last finite one; "
                "try a smaller --lr or --style-weight"
            )
        if stopped is Stopped.STOPPED and not self._shutting_down:
            return jobs.STOPPED, None
        return jobs.INTERRUPTED, "the server stopped while this job ran"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()
