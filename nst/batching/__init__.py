"""Many images: contents crossed with styles, rendered by workers that each load the network
once, recorded in a manifest so an interrupted batch resumes where it stopped.

``batch`` checks every argument before anything runs (an ``NstError`` otherwise), builds the
job list (``jobs``), drops the jobs the manifest (``manifest``) shows done with the same
inputs and settings, and hands the rest to an executor: this process, one process per local
device (``executors``) or Ray actors (``ray_executor``). See docs/batch.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nst import image as img
from nst.backend import resolve_backend
from nst.batching.jobs import build_jobs, expand_inputs, settings_record
from nst.batching.manifest import Manifest
from nst.errors import NstError
from nst.options.config import make_config


@dataclass
class BatchReport:
    """What a batch did: every job's count, and the entries of the ones that failed."""

    total: int
    skipped: int  # done by an earlier run with the same inputs and settings
    succeeded: int = 0
    failed: list[dict] = field(default_factory=list)
    manifest: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def batch(
    contents: str | Sequence[str],
    styles: str | Sequence[str],
    output_dir: str | Path,
    *,
    pairs: str = "all",
    format: str = "png",
    overwrite: bool = False,
    batch_size: int | str = 1,
    ray: str | None = None,
    ray_return: bool = False,
    retries: int = 2,
    backend: str | None = None,
    preset: str = "default",
    on_start: Callable[[int, int, str], None] | None = None,
    on_entry: Callable[[dict], None] | None = None,
    **options,
) -> BatchReport:
    """Render every content (files, folders, globs) in every style (``pairs='all'``) or the
    i-th content in the i-th style (``'zip'``) into ``output_dir`` as ``CONTENT--STYLE.FORMAT``.

    ``options`` are ``Config`` fields; ``device`` may also be 'all' or a comma list, one
    worker process each. ``batch_size``: images of one shape optimised together (each
    exactly as alone), or 'auto' (what fits the device; 1 on the CPU). ``ray``: 'auto' or a
    cluster's HOST:PORT, one actor per GPU (or CPU); ``ray_return``: the driver, not the
    actors, writes the outputs (no shared folder).
    ``on_start(to_run, skipped, where)`` is called once before the first job, ``on_entry``
    with each job's manifest entry as it finishes.
    """
    contents = [contents] if isinstance(contents, (str, Path)) else list(contents)
    styles = [styles] if isinstance(styles, (str, Path)) else list(styles)
    cfg = make_config(preset, **options)
    if batch_size != "auto" and not (isinstance(batch_size, int) and batch_size >= 1):
        raise NstError(f"--batch-size must be auto or a whole number of at least 1, got {batch_size!r}")
    suffix = "." + format.lower().lstrip(".")
    if suffix not in img.SAVE_FORMATS:
        raise NstError(
            f"--format must be one of {', '.join(s[1:] for s in img.SAVE_FORMATS)}, got {format!r}"
        )
    content_paths = expand_inputs([str(c) for c in contents], "content")
    style_paths = expand_inputs([str(s) for s in styles], "style")
    for path in style_paths:  # every job needs its style: a bad one is the batch's error
        img.load_image(path)
    out_dir = _output_folder(Path(output_dir), suffix)
    chosen = resolve_backend(backend)
    if ray is not None and cfg.device != "auto":
        raise NstError("--device chooses local workers; with --ray, Ray places the workers")
    devices = None
    if ray is None and (cfg.device == "all" or "," in cfg.device):
        from nst.batching.executors import local_devices

        devices = local_devices(chosen, cfg.device)
    jobs = build_jobs(content_paths, style_paths, out_dir, cfg, chosen.name, pairs=pairs, suffix=suffix)
    manifest = Manifest(out_dir)
    todo = [job for job in jobs if overwrite or not manifest.is_done(job)]
    for job in todo:  # what a run killed while writing this output left
        img.remove_partial_writes(Path(job.output))
    report = BatchReport(len(jobs), len(jobs) - len(todo), manifest=manifest.path)
    settings = settings_record(cfg, chosen.name)

    def record(entry: dict) -> None:
        entry = {**entry, "settings": settings, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        manifest.append(entry)
        if entry["error"] is None:
            report.succeeded += 1
        else:
            report.failed.append(entry)
        if on_entry:
            on_entry(entry)

    started_ray = False
    if ray is not None:
        from nst.batching.ray_executor import connect

        started_ray = connect(ray)  # not installed, or unreachable: an NstError before any job
        where = f"Ray ({ray})"
    elif devices is not None:
        where = f"{len(devices)} worker processes ({', '.join(devices)})"
    else:
        where = "this process"
    try:
        if on_start:
            on_start(len(todo), report.skipped, where)
        if not todo:
            return report
        if ray is not None:
            from nst.batching.ray_executor import run_on_ray

            run_on_ray(
                todo,
                cfg,
                chosen.name,
                record,
                batch_size=batch_size,
                return_pixels=ray_return,
                retries=retries,
            )
        elif devices is not None:
            from nst.batching.executors import run_on_devices

            run_on_devices(todo, cfg, chosen.name, devices, batch_size, record)
        else:
            from nst.batching.executors import run_in_process

            run_in_process(todo, cfg, chosen.name, cfg.device, batch_size, record)
    finally:
        if started_ray:
            from nst.batching.ray_executor import import_ray

            import_ray().shutdown()
    return report


def _output_folder(path: Path, suffix: str) -> Path:
    """``path`` created if needed, checked to be a writable folder."""
    if path.exists() and not path.is_dir():
        raise NstError(f"the output folder {path} is a file; give a folder (-o out/)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NstError(f"cannot create the output folder {path}: {error.strerror}") from None
    img.check_output_path(path / f"probe{suffix}")
    return path
