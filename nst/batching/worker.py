"""One worker: a network loaded once on one device, running jobs one after another, or
several same-shape images at once in one batched optimisation (``Backend.start_batch``).

The same class runs in this process, in a process per local device and inside a Ray actor.
``StyleTransfer`` keeps its network across ``prepare`` calls, and the JAX backend's compiled
step is reused for every image (or batch) of a shape it has seen, so both are paid once per
worker. A job's failure (a broken input, an image too small, a diverged loss, out of memory)
becomes its entry's ``error``; only Ctrl-C stops the worker.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nst import image as img
from nst import memory
from nst.batching.jobs import Job
from nst.config import Config
from nst.errors import NonFiniteLoss
from nst.stylize import Scale, Stopped, StyleTransfer, chunk_sizes

# What crosses from an actor to the driver when the driver writes the outputs (--ray-return):
# the output as an nst image, H x W x 3 float32 in [0, 1], which the driver hands to img.save_image
# exactly as a worker writing it would.
Pixels = np.ndarray
# --batch-size auto: at most this many images in one optimisation, and the window of jobs an
# executor hands a worker at a time.
AUTO_BATCH_LIMIT = 16
# The share of an accelerator's free memory that --batch-size auto fills by the estimate.
AUTO_MEMORY_SHARE = 0.8


@dataclass
class _Prepared:
    """A job whose inputs are read and whose first scale's targets are on the device, waiting
    for its batch; ``transfer`` (sharing the worker's network) moves it to the later scales."""

    job: Job
    entry: dict
    transfer: StyleTransfer
    init: np.ndarray
    prepare_seconds: float

    @property
    def scale(self) -> Scale:
        return self.transfer.scale

    def batch_key(self) -> tuple:
        """What images of one batch share: their shape at every scale and the objective's form."""
        height, width = self.transfer.inputs.content.shape[:2]
        shapes = tuple(img.longest_side_shape(height, width, size) for size in self.transfer.cfg.scale_sizes)
        return shapes, self.scale.spec.unweighted()


class Worker:
    def __init__(self, cfg: Config, backend: str | None, device: str, batch_size: int | str = 1):
        self.transfer = StyleTransfer(replace(cfg, device=device), backend)
        self.place = {"host": socket.gethostname(), "pid": os.getpid(), "device": device}
        self.batch_size = batch_size
        # One network for every image: what a batched optimisation needs.
        self.batchable = not cfg.normalize_network

    def run(self, jobs: Sequence[Job], write: bool = True, data: dict[str, bytes] | None = None):
        """Run ``jobs``; return one (entry, pixels) per job, in order. With ``write`` each
        output is written here (atomically) and pixels is None; else the pixels go back to
        the caller to write. ``data`` maps input paths to their bytes, for a machine that does
        not see the files. Jobs whose images share a shape run in batches of ``batch_size``."""
        if self.batch_size == 1 or len(jobs) == 1 or not self.batchable:
            return [self._run_one(job, write, data) for job in jobs]
        results: dict[str, tuple[dict, Pixels | None]] = {}
        groups: dict[tuple, list[_Prepared]] = {}
        for job in jobs:
            entry, prepared = self._prepare(job, data)
            if prepared is None:
                results[job.output] = (entry, None)
            elif prepared.transfer.tiled():  # a poster runs alone, tile by tile
                results[job.output] = self._run_one(job, write, data)
            else:
                groups.setdefault(prepared.batch_key(), []).append(prepared)
        for (shapes, _), group in groups.items():
            size = self._resolved_batch_size(shapes[-1])
            for first in range(0, len(group), size):
                for prepared, pixels in self._run_batch(group[first : first + size], write):
                    results[prepared.job.output] = (prepared.entry, pixels)
        return [results[job.output] for job in jobs]

    def _new_entry(self, job: Job) -> dict:
        entry: dict = {"content": job.content, "styles": list(job.styles), "output": job.output}
        entry.update(key=job.key, worker=self.place, error=None, losses=None, steps=0, batch=1)
        return entry

    def _run_one(self, job: Job, write: bool, data: dict[str, bytes] | None):
        started = time.perf_counter()
        entry = self._new_entry(job)
        pixels = None
        inputs = _Inputs(job, data)
        try:
            with inputs as (content, styles):
                self.transfer.prepare(content, styles)
            result = self.transfer.run()
            if result.stopped is Stopped.INTERRUPTED:
                raise KeyboardInterrupt
            losses = result.history[-1] if result.history else None
            diverged = result.stopped is Stopped.NON_FINITE
            pixels = self._finish(job, entry, result.image, result.steps, losses, diverged, write)
        except Exception as error:  # this job's failure; the batch goes on
            entry["error"] = inputs.original_names(_describe(error))
        entry["seconds"] = round(time.perf_counter() - started, 3)
        return entry, pixels

    def _prepare(self, job: Job, data: dict[str, bytes] | None) -> tuple[dict, _Prepared | None]:
        """The job's entry, and the job ready for a batch (None when it failed already)."""
        started = time.perf_counter()
        entry = self._new_entry(job)
        inputs = _Inputs(job, data)
        transfer = self.transfer.sibling()
        try:
            with inputs as (content, styles):
                transfer.prepare(content, styles)
            init = transfer.initial_image()
        except Exception as error:
            entry["error"] = inputs.original_names(_describe(error))
            entry["seconds"] = round(time.perf_counter() - started, 3)
            return entry, None
        return entry, _Prepared(job, entry, transfer, init, time.perf_counter() - started)

    def _resolved_batch_size(self, shape: tuple[int, ...]) -> int:
        """``batch_size``, or for 'auto' what fits: 1 on the CPU, where a batch renders no
        image faster (docs/batch.md); on an accelerator as many as the memory estimate
        (``nst.memory``) fits in its free memory, up to AUTO_BATCH_LIMIT."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        free = self.transfer.backend.free_memory(self.transfer.net)
        if free is None:
            return 1
        cfg = self.transfer.cfg
        per_image = memory.estimated_peak_bytes(
            self.transfer.backend.name,
            shape[0] * shape[1],
            cfg.optimizer,
            cfg.lbfgs_history,
            self.transfer.weights.arch,
            self.transfer.spec.layers,
        )
        return auto_batch_size(free, None if per_image is None else per_image - memory.FIXED_BYTES)

    def _run_batch(self, group: list[_Prepared], write: bool) -> list[tuple[_Prepared, Pixels | None]]:
        """One optimisation of every image of ``group`` (one batch key) per scale, each scale
        starting from the last one's images upsampled, as ``StyleTransfer.run`` does."""
        cfg, transfer = self.transfer.cfg, self.transfer
        started = time.perf_counter()
        last = [p.init for p in group]
        losses: list[dict | None] = [None] * len(group)
        diverged_at: list[int | None] = [None] * len(group)
        done = 0
        try:
            for index, (size, steps) in enumerate(zip(cfg.scale_sizes, cfg.steps_per_scale)):
                # A diverged image keeps its last finite iterate, as a single run does, and
                # leaves the batch.
                running = [k for k in range(len(group)) if diverged_at[k] is None]
                if not running:
                    break
                for k in running:
                    if index:
                        group[k].transfer.use_scale(size)
                        last[k] = img.resize_to(last[k], *group[k].scale.content.shape[:2])
                optimization = transfer.backend.start_batch(
                    transfer.net,
                    [group[k].scale.targets for k in running],
                    [last[k] for k in running],
                    [group[k].scale.spec for k in running],
                    cfg.run_settings(),
                )
                for chunk in chunk_sizes(steps, cfg.print_every, 0):
                    terms = optimization.advance(chunk)
                    for k, image, term in zip(running, optimization.images(), terms):
                        if diverged_at[k] is None:
                            if math.isfinite(term["total"]) and np.isfinite(image).all():
                                last[k], losses[k] = image, term
                            else:
                                diverged_at[k] = done
                    done += chunk
        except Exception as error:
            message = _describe(error)
            if transfer.backend.is_out_of_memory(error):
                message = f"out of memory on {transfer.net.device} with {len(group)} images in one batch; "
                message += "use a smaller --batch-size"
            for prepared in group:
                prepared.entry["error"] = message
            return [(prepared, None) for prepared in group]
        shared = (time.perf_counter() - started) / len(group)
        results = []
        for k, prepared in enumerate(group):
            entry = prepared.entry
            entry["batch"] = len(group)
            image = prepared.transfer.output_image(last[k])
            pixels = None
            try:
                ran = done if diverged_at[k] is None else diverged_at[k]
                pixels = self._finish(
                    prepared.job, entry, image, ran, losses[k], diverged_at[k] is not None, write
                )
            except Exception as error:
                entry["error"] = _describe(error)
            entry["seconds"] = round(prepared.prepare_seconds + shared, 3)
            results.append((prepared, pixels))
        return results

    def _finish(self, job, entry, image, steps, losses, diverged, write) -> Pixels | None:
        """Record the steps and final losses; write the output or return its pixels."""
        entry["steps"] = steps
        if losses:
            entry["losses"] = {k: losses[k] for k in ("content", "style", "tv", "total")}
        if diverged:
            raise NonFiniteLoss(
                f"the loss became non-finite after step {steps}; try a smaller --lr or --style-weight"
            )
        if write:
            img.save_image(image, job.output)
            return None
        return np.asarray(image, dtype=np.float32)


def auto_batch_size(free_bytes: int, per_image_bytes: float | None) -> int:
    """The images of one batch that fit AUTO_MEMORY_SHARE of ``free_bytes``, 1 to AUTO_BATCH_LIMIT."""
    if not per_image_bytes:
        return 1
    return max(1, min(AUTO_BATCH_LIMIT, int(AUTO_MEMORY_SHARE * free_bytes // per_image_bytes)))


def _describe(error: Exception) -> str:
    """An NstError's own line; anything else (a bug, a framework error) with its type."""
    if error.__class__.__module__.startswith("nst"):
        return str(error)
    return f"{type(error).__name__}: {error}"


class _Inputs:
    """The job's inputs as paths this worker can read: the job's own, or with ``data`` copies
    in a temporary folder, named so that messages still show the original paths."""

    def __init__(self, job: Job, data: dict[str, bytes] | None):
        self.job, self.data = job, data
        self.folder: tempfile.TemporaryDirectory | None = None
        self.copies: dict[str, str] = {}  # copy's path -> the original's

    def __enter__(self) -> tuple[str, list[str]]:
        if self.data is None:
            return self.job.content, list(self.job.styles)
        self.folder = tempfile.TemporaryDirectory(prefix="nst-batch-")
        paths = []
        for index, source in enumerate((self.job.content, *self.job.styles)):
            path = Path(self.folder.name, str(index), Path(source).name)
            path.parent.mkdir()
            path.write_bytes(self.data[source])
            paths.append(str(path))
            self.copies[str(path)] = source
        return paths[0], paths[1:]

    def __exit__(self, *exc) -> None:
        if self.folder is not None:
            self.folder.cleanup()

    def original_names(self, message: str) -> str:
        for copy, original in self.copies.items():
            message = message.replace(copy, original)
        return message


def lost_entry(job: Job, why: str) -> dict:
    """The entry of a job whose worker went away before it could report."""
    return {
        "content": job.content,
        "styles": list(job.styles),
        "output": job.output,
        "key": job.key,
        "error": why,
    }
