"""One worker: a network loaded once on one device, running jobs one after another, or
several same-shape images at once in one batched optimisation (``Backend.start_batch``).

The same class runs in this process, in a process per local device and inside a Ray actor.
Every job's ``StyleTransfer`` shares the worker's network, every batch runs on ``nst.engine``,
and the JAX backend's compiled step is reused for every image (or batch) of a shape it has
seen, so both are paid once per worker. A job's failure (a broken input, an image too small,
a diverged loss, out of memory) becomes its entry's ``error``; only Ctrl-C stops the worker.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nst import engine, memory
from nst import image as img
from nst.batching.jobs import Job
from nst.engine import Outcome, describe_error
from nst.errors import NonFiniteLoss
from nst.events import Stopped
from nst.options.config import Config
from nst.plan import MEMORY_SHARE
from nst.stylize import StyleTransfer

# What crosses from an actor to the driver when the driver writes the outputs (--ray-return):
# the output as an nst image, H x W x 3 float32 in [0, 1], which the driver hands to img.save_image
# exactly as a worker writing it would.
Pixels = np.ndarray
# --batch-size auto: at most this many images in one optimisation, and the window of jobs an
# executor hands a worker at a time.
AUTO_BATCH_LIMIT = 16


@dataclass
class _Prepared:
    """A job whose inputs are read, whose run is planned and whose first scale's targets are
    on the device, waiting for its batch."""

    job: Job
    entry: dict
    transfer: StyleTransfer
    prepare_seconds: float

    def batch_key(self) -> tuple:
        """What images of one batch share: their plan's shapes, steps and tiles at every
        scale, and the objective's form."""
        scales = tuple(
            (s.height, s.width, s.steps, s.tile, s.lbfgs_history) for s in self.transfer.plan.scales
        )
        return scales, self.transfer.scale.spec.unweighted()


class Worker:
    """One network on ``device``; every job's ``StyleTransfer`` shares it."""

    def __init__(self, cfg: Config, backend: str | None, device: str, batch_size: int | str = 1):
        self.cfg = replace(cfg, device=device)
        first = StyleTransfer(self.cfg, backend)
        self.backend, self.weights = first.backend, first.weights
        layers = self.cfg.loss_spec(1).layers
        self.weights.arch.check_layers(layers)
        self.net = self.backend.load_network(
            self.weights.params, self.weights.arch, self.weights.preprocess, layers, self.cfg.pooling, device
        )
        self.place = {"host": socket.gethostname(), "pid": os.getpid(), "device": device}
        self.batch_size = batch_size
        # One network for every image: what a batched optimisation needs.
        self.batchable = not cfg.normalize_network

    def _transfer(self) -> StyleTransfer:
        return StyleTransfer(self.cfg, self.backend, self.weights, network=self.net)

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
                results[job.output] = self._run_batch([prepared], write)[0][1:]
            else:
                groups.setdefault(prepared.batch_key(), []).append(prepared)
        for group in groups.values():
            size = self._resolved_batch_size(group[0].transfer)
            for first in range(0, len(group), size):
                for prepared, entry, pixels in self._run_batch(group[first : first + size], write):
                    results[prepared.job.output] = (entry, pixels)
        return [results[job.output] for job in jobs]

    def _new_entry(self, job: Job) -> dict:
        entry: dict = {"content": job.content, "styles": list(job.styles), "output": job.output}
        entry.update(key=job.key, worker=self.place, error=None, losses=None, steps=0, batch=1)
        return entry

    def _run_one(self, job: Job, write: bool, data: dict[str, bytes] | None):
        entry, prepared = self._prepare(job, data)
        if prepared is None:
            return entry, None
        return self._run_batch([prepared], write)[0][1:]

    def _prepare(self, job: Job, data: dict[str, bytes] | None) -> tuple[dict, _Prepared | None]:
        """The job's entry, and the job ready for a batch (None when it failed already)."""
        started = time.perf_counter()
        entry = self._new_entry(job)
        inputs = _Inputs(job, data)
        transfer = self._transfer()
        try:
            with inputs as (content, styles):
                transfer.prepare(content, styles)
        except Exception as error:
            entry["error"] = inputs.original_names(describe_error(error))
            entry["seconds"] = round(time.perf_counter() - started, 3)
            return entry, None
        return entry, _Prepared(job, entry, transfer, time.perf_counter() - started)

    def _resolved_batch_size(self, transfer: StyleTransfer) -> int:
        """``batch_size``, or for 'auto' what fits: 1 on the CPU, where a batch renders no
        image faster (docs/batch.md); on an accelerator as many as the memory estimate fits in
        its free memory, up to AUTO_BATCH_LIMIT. The estimate is the backend's CPU model
        (``nst.memory``): accelerator memory is not measured yet."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        free = self.backend.free_memory(self.net)
        if free is None:
            return 1
        last = transfer.plan.last
        per_image = memory.estimated_peak_bytes(
            self.backend.host_memory,
            last.height * last.width,
            self.cfg.optimizer,
            last.lbfgs_history,
            self.weights.arch,
            transfer.spec.layers,
        )
        return auto_batch_size(free, per_image - self.backend.host_memory.fixed_bytes)

    def _run_batch(self, group: list[_Prepared], write: bool) -> list[tuple[_Prepared, dict, Pixels | None]]:
        """One run of the engine for every image of ``group`` (one batch key)."""
        started = time.perf_counter()
        first = group[0].transfer
        try:
            outcomes = engine.run(
                first.plan,
                [prepared.transfer.problem for prepared in group],
                self.cfg.run_settings(),
                print_every=self.cfg.print_every,
            )
        except Exception as error:
            for prepared in group:
                prepared.entry["error"] = describe_error(error)
            return [(prepared, prepared.entry, None) for prepared in group]
        if any(outcome.stopped is Stopped.INTERRUPTED for outcome in outcomes):
            raise KeyboardInterrupt
        shared = (time.perf_counter() - started) / len(group)
        results = []
        for prepared, outcome in zip(group, outcomes):
            entry = prepared.entry
            entry["batch"] = len(group)
            pixels = None
            try:
                pixels = self._finish(prepared.job, entry, outcome, write)
            except Exception as error:
                entry["error"] = describe_error(error)
            entry["seconds"] = round(prepared.prepare_seconds + shared, 3)
            results.append((prepared, entry, pixels))
        return results

    def _finish(self, job: Job, entry: dict, outcome: Outcome, write: bool) -> Pixels | None:
        """Record the steps and final losses; write the output or return its pixels."""
        entry["steps"] = outcome.steps
        if outcome.losses:
            entry["losses"] = {k: outcome.losses[k] for k in ("content", "style", "tv", "total")}
        if outcome.stopped is Stopped.NON_FINITE:
            raise NonFiniteLoss(
                f"the loss became non-finite after step {outcome.steps}; try a smaller --lr or --style-weight"
            )
        if write:
            img.save_image(outcome.image, job.output)
            return None
        return np.asarray(outcome.image, dtype=np.float32)


def auto_batch_size(free_bytes: int, per_image_bytes: float | None) -> int:
    """The images of one batch that fit MEMORY_SHARE of ``free_bytes``, 1 to AUTO_BATCH_LIMIT."""
    if not per_image_bytes:
        return 1
    return max(1, min(AUTO_BATCH_LIMIT, int(MEMORY_SHARE * free_bytes // per_image_bytes)))


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
