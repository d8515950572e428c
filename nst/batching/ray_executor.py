"""Workers as Ray actors, for more images than one machine renders in time.

One actor per GPU of the cluster (or per CPU when it has none), each loading the network
once: the same ``Worker`` as the local executors, made remote. Each actor holds one job at a
time, so a fast one takes more. With a shared output folder the actor writes its output
(atomically); with ``return_pixels`` (``--ray-return``) the driver sends the input files'
bytes and writes what comes back. A job whose actor dies is retried on another, up to
``retries`` times; the dead actor is not replaced (a lost node would leave it pending).
Ray is imported here only, and only when asked for.
"""

from __future__ import annotations

import socket
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path

from nst import image as img
from nst.batching.executors import OnEntry, windows
from nst.batching.jobs import Job
from nst.batching.worker import Worker, lost_entry
from nst.errors import NstError
from nst.options.config import Config

INSTALL_HINT = "Ray is not installed; install it with: pip install 'nst[ray]'"
# Seconds to wait for a TCP connection to the cluster's address before calling it unreachable.
CONNECT_SECONDS = 5.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise NstError(INSTALL_HINT) from None
    return ray


def connect(address: str) -> bool:
    """Join the cluster at ``address`` ('auto': $RAY_ADDRESS or the one ``ray start`` runs
    here, else a new local instance); return whether this call started Ray."""
    ray = import_ray()
    if address != "auto":
        _check_reachable(address)
    if ray.is_initialized():  # a library caller's own ray.init() wins
        return False
    try:
        ray.init(address=None if address == "auto" else address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise NstError(f"cannot connect to the Ray cluster at {address}: {error}") from None
    return True


def _check_reachable(address: str) -> None:
    # ray.init retries an unreachable address for a long while; a plain connect answers now.
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise NstError(f"--ray takes auto or HOST:PORT (e.g. 10.0.0.5:6379), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise NstError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def run_on_ray(
    jobs: Sequence[Job],
    cfg: Config,
    backend: str,
    on_entry: OnEntry,
    *,
    batch_size: int | str = 1,
    return_pixels: bool = False,
    retries: int = 2,
) -> None:
    """Run ``jobs`` on the cluster ``connect`` joined, a window of them per actor call."""
    ray = import_ray()
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    count = max(1, min(len(jobs), gpus or int(resources.get("CPU", 1))))
    remote = ray.remote(Worker).options(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1)
    # A worker takes the device its actor was given: Ray sets CUDA_VISIBLE_DEVICES to it.
    actors = [remote.remote(cfg, backend, "cuda" if gpus else "cpu", batch_size) for _ in range(count)]
    waiting = deque(windows(jobs, batch_size))
    attempts: Counter[str] = Counter()
    running: dict = {}  # object ref -> (actor, window of jobs)
    idle = list(actors)
    while waiting or running:
        while idle and waiting:
            actor, window = idle.pop(), waiting.popleft()
            data = _input_bytes(window) if return_pixels else None
            running[actor.run.remote(window, not return_pixels, data)] = (actor, window)
        if not running:  # every actor is dead and jobs are left
            for job in (job for window in waiting for job in window):
                on_entry(lost_entry(job, "every Ray worker died"))
            return
        (done,), _ = ray.wait(list(running), num_returns=1)
        actor, window = running.pop(done)
        first_output = window[0].output
        try:
            results = ray.get(done)
        except ray.exceptions.RayActorError as error:
            attempts[first_output] += 1
            if attempts[first_output] > retries:
                why = f"its Ray worker died {attempts[first_output]} times ({type(error).__name__})"
                for job in window:
                    on_entry(lost_entry(job, why))
            else:
                waiting.appendleft(window)
            continue
        except ray.exceptions.RayTaskError as error:  # not the jobs' own failure: Ray's
            for job in window:
                on_entry(lost_entry(job, f"the Ray task failed: {str(error).splitlines()[0]}"))
            idle.append(actor)
            continue
        for job, (entry, pixels) in zip(window, results):
            if pixels is not None:
                try:
                    img.save_image(pixels, job.output)
                except NstError as error:
                    entry["error"] = str(error)
            entry["attempts"] = attempts[first_output] + 1
            on_entry(entry)
        idle.append(actor)


def _input_bytes(window: list[Job]) -> dict[str, bytes]:
    data = {}
    for path in {path for job in window for path in (job.content, *job.styles)}:
        try:
            data[path] = Path(path).read_bytes()
        except OSError:
            data[path] = b""  # the worker reports it as not an image
    return data
