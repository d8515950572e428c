"""The job list of a batch: inputs expanded from files, folders and globs, paired, named, and
fingerprinted so a resumed run can tell which outputs are already done with these settings.

Everything here runs before any network loads: a mistake in the arguments is an ``NstError``
(one line, exit 2) before anything runs. Whether an input decodes is the worker's business,
so one broken file among many becomes that job's error, not the batch's.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nst import image as img
from nst.errors import NstError
from nst.options.config import Config

# What a folder or glob contributes: files with these suffixes (anything else there is skipped).
IMAGE_SUFFIXES = (*img.SAVE_FORMATS, ".gif", ".ppm", ".pgm", ".tga")
PAIRINGS = ("all", "zip")
# Options that change how a run is watched or placed, not its result: a resumed run with
# another value still skips the done outputs.
UNKEYED_OPTIONS = ("device", "print_every", "save_every")


@dataclass(frozen=True)
class Job:
    """One output: a content image, its style image(s), where the result goes, and the key
    that says which inputs and settings produced it."""

    content: str
    styles: tuple[str, ...]
    output: str
    key: str


def expand_inputs(inputs: Sequence[str], what: str) -> list[str]:
    """Files as given; a folder's image files (sorted, not recursive); a glob's image files.
    A missing file, an unreadable folder, or a glob or folder without images is an NstError."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if glob.has_magic(item):
            matches = sorted(m for m in glob.glob(item) if _is_image_name(m) and Path(m).is_file())
            if not matches:
                raise NstError(f"{what} pattern {item!r} matches no image file")
            found.extend(matches)
        elif path.is_dir():
            try:
                names = sorted(os.listdir(path))
            except OSError as error:
                raise NstError(f"cannot read the {what} folder {path}: {error.strerror}") from None
            images = [str(path / n) for n in names if _is_image_name(n) and (path / n).is_file()]
            if not images:
                raise NstError(f"the {what} folder {path} holds no image file ({', '.join(IMAGE_SUFFIXES)})")
            found.extend(images)
        elif path.exists():
            found.append(item)
        else:
            raise NstError(f"no such {what} file or folder: {item}")
    return list(dict.fromkeys(found))  # a file named twice is one input


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def pair(contents: Sequence[str], styles: Sequence[str], pairs: str) -> list[tuple[str, str]]:
    """(content, style) pairs: every content with every style ('all'), or the i-th content with
    the i-th style ('zip', equal counts)."""
    if pairs == "all":
        return [(c, s) for c in contents for s in styles]
    if pairs == "zip":
        if len(contents) != len(styles):
            raise NstError(
                f"--pairs zip needs as many styles as contents; got {len(contents)} contents "
                f"and {len(styles)} styles"
            )
        return list(zip(contents, styles))
    raise NstError(f"--pairs must be one of {', '.join(PAIRINGS)}, got {pairs!r}")


def output_name(content: str, style: str, suffix: str) -> str:
    """'photos/cat.jpg' with 'styles/starry.jpg' -> 'cat--starry.png'."""
    return f"{Path(content).stem}--{Path(style).stem}{suffix}"


def settings_record(cfg: Config, backend: str) -> dict:
    """What the manifest records as a job's settings: every keyed option and the backend."""
    options = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in UNKEYED_OPTIONS}
    return {"backend": backend, **options}


def build_jobs(
    contents: Sequence[str],
    styles: Sequence[str],
    out_dir: Path,
    cfg: Config,
    backend: str,
    *,
    pairs: str = "all",
    suffix: str = ".png",
) -> list[Job]:
    """The batch's jobs, one per (content, style) pair; two pairs that would write the same
    file are an NstError (rename one of the inputs)."""
    settings = json.dumps(settings_record(cfg, backend), sort_keys=True, default=str)
    digests: dict[str, str] = {}
    jobs: list[Job] = []
    by_output: dict[str, tuple[str, str]] = {}
    for content, style in pair(contents, styles, pairs):
        name = output_name(content, style, suffix)
        if name in by_output:
            raise NstError(
                f"{content} with {style} and {' with '.join(by_output[name])} would both write "
                f"{out_dir / name}; rename one of the inputs"
            )
        by_output[name] = (content, style)
        for path in (content, style):
            if path not in digests:
                digests[path] = file_digest(path)
        key = hashlib.sha256(json.dumps([settings, digests[content], digests[style]]).encode()).hexdigest()[
            :16
        ]
        jobs.append(Job(content, (style,), str(out_dir / name), key))
    return jobs


def file_digest(path: str) -> str:
    """The sha256 of a file's bytes: a changed input under the same name redoes its outputs.
    A file that cannot be read gets a digest of its own; its job reports why."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as error:
        return f"unreadable: {error.strerror}"
