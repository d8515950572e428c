"""Where workers run: in this process, or one process per local device taking jobs from a
shared queue. (Ray actors: ``nst.batching.ray_executor``.) Every executor hands each finished
job's entry to ``on_entry`` in this process, which writes the manifest: the record does not
depend on where a job ran.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence

from nst.backend import Backend
from nst.batching.jobs import Job
from nst.batching.worker import AUTO_BATCH_LIMIT, Worker, lost_entry
from nst.devices import parse_device
from nst.errors import NstError
from nst.options.config import Config

OnEntry = Callable[[dict], None]
# How often the driver looks for a worker process that died, in seconds.
POLL_SECONDS = 0.5


def local_devices(backend: Backend, device_option: str) -> list[str]:
    """``--device`` as a list of worker devices: 'all' is every accelerator here (else the CPU);
    'cuda:0,cuda:1' or 'cpu,cpu' one worker each; one name, one worker."""
    if device_option == "all":
        found = backend.devices()
        accelerators = [d for d in found if not d.startswith("cpu")]
        return accelerators or [found[0]]
    names = [part.strip() for part in device_option.split(",") if part.strip()]
    if not names:
        raise NstError("--device names no device")
    for name in names:
        backend.resolve_device(name)  # an NstError now, before any worker starts
    return names


def windows(jobs: Sequence[Job], batch_size: int | str) -> list[list[Job]]:
    """The jobs in the groups a worker takes at a time: a batch's worth (with 'auto', the
    largest batch it may choose); the worker batches the images of one shape within each."""
    size = AUTO_BATCH_LIMIT if batch_size == "auto" else int(batch_size)
    return [list(jobs[first : first + size]) for first in range(0, len(jobs), size)]


def run_in_process(
    jobs: Sequence[Job], cfg: Config, backend: str, device: str, batch_size: int | str, on_entry: OnEntry
) -> None:
    worker = Worker(cfg, backend, device, batch_size)
    for window in windows(jobs, batch_size):
        for entry, _ in worker.run(window):
            on_entry(entry)


def run_on_devices(
    jobs: Sequence[Job],
    cfg: Config,
    backend: str,
    devices: Sequence[str],
    batch_size: int | str,
    on_entry: OnEntry,
) -> None:
    """One worker process per device, each with its own network, taking windows of jobs
    from one queue (fast devices take more). A process that dies loses only the jobs it held:
    their entries say so and the others go on (a resumed run redoes them)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
    tasks = context.Queue()
    results = context.Queue()
    for window in windows(jobs, batch_size):
        tasks.put(window)
    for _ in devices:
        tasks.put(None)
    cpu_workers = sum(d.startswith("cpu") for d in devices)
    threads = max(1, (os.cpu_count() or 1) // max(1, cpu_workers))
    processes = [
        context.Process(
            target=_device_loop,
            args=(index, cfg, backend, device, batch_size, threads, tasks, results),
            name=f"nst-batch-{device}",
            daemon=True,
        )
        for index, device in enumerate(devices)
    ]
    for process in processes:
        process.start()
    holding: dict[int, list[Job]] = {}
    left = len(jobs)
    try:
        while left:
            try:
                kind, index, payload = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                left -= _report_dead(processes, holding, on_entry)
                if left and not any(p.is_alive() for p in processes):
                    raise NstError("every worker process stopped; see the messages above") from None
                continue
            if kind == "start":
                holding[index] = payload
            elif kind == "failed":  # the worker could not start (its device, its memory)
                raise NstError(f"the worker on {devices[index]} failed to start: {payload}")
            else:
                holding.pop(index, None)
                for entry in payload:
                    on_entry(entry)
                left -= len(payload)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _report_dead(processes, holding: dict[int, list[Job]], on_entry: OnEntry) -> int:
    lost = 0
    for index, process in enumerate(processes):
        if not process.is_alive() and index in holding:
            device = process.name.removeprefix("nst-batch-")
            for job in holding.pop(index):
                on_entry(
                    lost_entry(job, f"the worker process on {device} died (exit code {process.exitcode})")
                )
                lost += 1
    return lost


def _device_loop(index, cfg, backend, device, batch_size, threads, tasks, results) -> None:
    try:
        named, (platform, number) = device, (None, None) if device == "auto" else parse_device(device)
        if platform == "gpu" and number is not None:
            # This process sees its own GPU only: JAX would otherwise reserve memory on all.
            os.environ["CUDA_VISIBLE_DEVICES"] = str(number)
            device = "gpu"
        try:
            worker = Worker(cfg, backend, device, batch_size)
            if device.startswith("cpu"):  # several CPU workers share the cores
                worker.backend.set_host_threads(threads)
            worker.place["device"] = named
        except Exception as error:
            results.put(("failed", index, str(error)))
            return
        while (window := tasks.get()) is not None:
            results.put(("start", index, window))
            results.put(("done", index, [entry for entry, _ in worker.run(window)]))
    except KeyboardInterrupt:  # Ctrl-C reaches every process; the driver reports it
        pass
