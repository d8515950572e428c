"""One worker: a network loaded once on one device, running jobs one after another.

The same class runs in this process, in a process per local device and inside a Ray actor.
``StyleTransfer`` keeps its network across ``prepare`` calls, and the JAX backend's compiled
step is reused for every image of a shape it has seen, so both are paid once per worker.
A job's failure (a broken input, an image too small, a diverged loss, out of memory) becomes
its entry's ``error``; only Ctrl-C stops the worker.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from nst import image as img
from nst.batching.jobs import Job
from nst.config import Config
from nst.errors import NonFiniteLoss
from nst.stylize import Stopped, StyleTransfer

# What crosses from an actor to the driver when the driver writes the outputs (--ray-return).
Pixels = np.ndarray  # H x W x 3 uint8


class Worker:
    def __init__(self, cfg: Config, backend: str | None, device: str):
        self.transfer = StyleTransfer(replace(cfg, device=device), backend)
        self.place = {"host": socket.gethostname(), "pid": os.getpid(), "device": device}

    def run(self, job: Job, write: bool = True, data: dict[str, bytes] | None = None):
        """Run ``job``; return (entry, pixels). With ``write`` the output is written here
        (atomically) and pixels is None; else the pixels go back to the caller to write.
        ``data`` maps input paths to their bytes, for a machine that does not see the files."""
        started = time.perf_counter()
        entry: dict = {"content": job.content, "styles": list(job.styles), "output": job.output}
        entry.update(key=job.key, worker=self.place, error=None, losses=None, steps=0)
        pixels = None
        inputs = _Inputs(job, data)
        try:
            with inputs as (content, styles):
                self.transfer.prepare(content, styles)
            result = self.transfer.run()
            if result.stopped is Stopped.INTERRUPTED:
                raise KeyboardInterrupt
            entry["steps"] = result.steps
            if result.history:
                entry["losses"] = {k: result.history[-1][k] for k in ("content", "style", "tv", "total")}
            if result.stopped is Stopped.NON_FINITE:
                raise NonFiniteLoss(
                    f"the loss became non-finite after step {result.steps}; "
                    "try a smaller --lr or --style-weight"
                )
            if write:
                img.save_image(result.image, job.output)
            else:
                pixels = np.asarray(img.to_pil(result.image))
        except Exception as error:  # this job's failure; the batch goes on
            entry["error"] = inputs.original_names(_describe(error))
        entry["seconds"] = round(time.perf_counter() - started, 3)
        return entry, pixels


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
