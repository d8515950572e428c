"""A clip, frame by frame, without flicker (Ruder, Dosovitskiy & Brox 2016).

Frame 1 is a normal run. Frame t starts from frame t-1's output warped onto it with the
optical flow from frame t to frame t-1 (``nst.video.flow``), and the objective gains the
temporal term (``LossSpec.temporal``): the confidence-weighted mean squared difference to
that warped output. Starting close, later frames take fewer steps (``frame_iterations``).
One network serves every frame; each frame recomputes its targets.

Finished frames are written at once, as PNGs, into the output folder, or for an MP4 into a
work folder beside it (``OUT.nst-frames``) that is encoded at the end and then removed. A
rerun with the same settings continues after the last finished frame: the warm start reads
that frame back from its PNG, so a resumed run makes the frames an uninterrupted one makes.
Ctrl-C encodes the frames done so far (MP4) and keeps them for the rerun.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from nst import image as img
from nst.backend import Backend, resolve_backend
from nst.errors import NonFiniteLoss, NstError
from nst.events import Progress, Stopped
from nst.options.config import Config, make_config
from nst.problem import Previous
from nst.stylize import StyleTransfer
from nst.video import flow
from nst.video.deps import require
from nst.video.frames import (
    Clip,
    check_codecs,
    check_writable,
    frame_path,
    output_kind,
    read_clip,
    write_mp4,
)

# From python -m bench.video's sweep (docs/video.md#choosing-the-defaults): the weight that
# removes most of the flicker while keeping independent frames' style loss; later frames start
# close, so half of a 100-step first frame's steps keep the style where a quarter does not.
TEMPORAL_WEIGHT = 500.0
FRAME_ITERATIONS = 50
MANIFEST = "nst-video.json"


@dataclass(frozen=True)
class VideoProgress:
    """What a callback sees: after each chunk of a frame's steps (``step``), and once a frame
    is written (``step`` None). Frames count from 1."""

    frame: int
    frames: int
    step: Progress | None


@dataclass(frozen=True)
class FrameRecord:
    frame: int
    steps: int
    seconds: float  # the whole frame: flow, targets, optimisation, write
    losses: dict[str, float]


@dataclass
class VideoResult:
    output: Path
    frames_done: int
    frames: int
    stopped: Stopped
    resumed_from: int  # frames found finished on disk
    records: list[FrameRecord] = field(default_factory=list)


def stylize_video(
    source,
    styles: Sequence,
    output,
    *,
    backend: str | Backend | None = None,
    preset: str = "default",
    temporal_weight: float | None = None,
    frame_iterations: int | None = None,
    max_frames: int | None = None,
    start: float = 0.0,
    end: float | None = None,
    callback: Callable[[VideoProgress], None] | None = None,
    log: Callable[[str], None] | None = None,
    config: Config | None = None,
    **options,
) -> VideoResult:
    """Stylize the clip ``source`` (a video file, a folder of frames or a glob) after
    ``styles`` into ``output`` (an .mp4, or a folder for PNG frames). ``options`` are
    ``Config`` fields (or give a whole ``config``); ``temporal_weight`` 0 makes independent
    frames, each a full run; None takes the measured defaults. Ctrl-C returns a result with
    ``stopped`` INTERRUPTED; a diverged frame raises ``NonFiniteLoss`` (the frames before it stay on disk)."""
    log = log or (lambda message: None)
    for module in ("av", "cv2"):  # the extra as a whole: fail before any work
        require(module)
    temporal_weight = TEMPORAL_WEIGHT if temporal_weight is None else temporal_weight
    frame_iterations = FRAME_ITERATIONS if frame_iterations is None else frame_iterations
    _check_video_options(temporal_weight, frame_iterations, max_frames, start)
    cfg = config or make_config(preset, **options)
    output = Path(output)
    kind = output_kind(output)
    check_writable(output.parent)
    style_images = [img.load_image(style) for style in styles]
    if not style_images:
        raise NstError("no style image: give at least one")
    clip = read_clip(str(source), cfg.size, kind == "video", start, end, max_frames)
    if kind == "video":
        check_codecs(clip.audio)
    height, width = clip.frames[0].shape[:2]
    cfg = replace(cfg, size=max(height, width))
    resolved = resolve_backend(backend) if backend is None or isinstance(backend, str) else backend
    folder = output.with_name(f"{output.stem}.nst-frames") if kind == "video" else output
    manifest = {
        "source": str(source),
        "frames": len(clip.frames),
        "styles": [img.describe_source(s) for s in styles],
        "backend": resolved.name,
        "config": asdict(cfg),
        "temporal_weight": temporal_weight,
        "frame_iterations": frame_iterations,
    }
    done = _open_folder(folder, json.loads(json.dumps(manifest)))
    log(
        f"{len(clip.frames)} frames of {width}x{height} px at {float(clip.fps):.3g} fps"
        + (f"; {done} already done in {folder}, continuing" if done else "")
    )
    result = VideoResult(output, done, len(clip.frames), Stopped.COMPLETED, done)
    first = StyleTransfer(cfg, resolved, log=log)
    later_cfg = replace(cfg, scales=1, iterations=frame_iterations, scale_iterations=None)
    later: StyleTransfer | None = None  # the frames tied to the last: one scale, fewer steps
    try:
        for index in range(done, len(clip.frames)):
            started = time.perf_counter()
            previous = None
            if index and temporal_weight:
                last = img.load_image(frame_path(folder, index))
                warped, confidence = flow.link(clip.frames[index - 1], clip.frames[index], last)
                previous = Previous(warped, confidence, temporal_weight)
            if previous is None:
                transfer = first
            else:
                later = later or first.with_config(later_cfg)
                transfer = later
            transfer.prepare(clip.frames[index], style_images, previous=previous)

            def on_step(progress: Progress, frame: int = index + 1) -> None:
                if callback:
                    callback(VideoProgress(frame, len(clip.frames), progress))

            run = transfer.run(on_step)
            if run.stopped is Stopped.INTERRUPTED:
                raise KeyboardInterrupt
            if run.stopped is Stopped.NON_FINITE:
                raise NonFiniteLoss(
                    f"frame {index + 1}: the loss became non-finite after step {run.steps}; "
                    "try a smaller --lr or --style-weight"
                )
            img.save_image(run.image, frame_path(folder, index + 1))
            losses = run.history[-1] if run.history else {}
            terms = {k: float(v) for k, v in losses.items() if k not in ("step", "size", "seconds")}
            result.records.append(FrameRecord(index + 1, run.steps, time.perf_counter() - started, terms))
            result.frames_done = index + 1
            if callback:
                callback(VideoProgress(index + 1, len(clip.frames), None))
    except KeyboardInterrupt:
        result.stopped = Stopped.INTERRUPTED
    if kind == "video" and result.frames_done:
        _encode(clip, folder, output, result.frames_done)
        if result.stopped is Stopped.COMPLETED:
            shutil.rmtree(folder)
    return result


def _check_video_options(temporal_weight, frame_iterations, max_frames, start) -> None:
    if not (math.isfinite(temporal_weight) and temporal_weight >= 0):
        raise NstError(f"--temporal-weight must be a non-negative number, got {temporal_weight}")
    if frame_iterations < 1:
        raise NstError(f"--frame-iterations must be at least 1, got {frame_iterations}")
    if max_frames is not None and max_frames < 1:
        raise NstError(f"--max-frames must be at least 1, got {max_frames}")
    if not (math.isfinite(start) and start >= 0):
        raise NstError(f"--start must be 0 or more seconds, got {start}")


def _open_folder(folder: Path, manifest: dict) -> int:
    """Create ``folder`` or find a run with the same settings there; the frames done."""
    manifest_path = folder / MANIFEST
    if manifest_path.exists():
        if json.loads(manifest_path.read_text()) != manifest:
            raise NstError(
                f"{folder} holds frames of a run with other inputs or settings; "
                "delete it or choose another -o"
            )
    elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise NstError(f"{folder} exists and is not an nst video folder; choose another -o")
    else:
        try:
            folder.mkdir(exist_ok=True)
            _write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True))
        except OSError as error:
            raise NstError(f"cannot write {folder}: {error.strerror}; choose another -o") from None
    done = 0
    while done < manifest["frames"] and frame_path(folder, done + 1).exists():
        done += 1
    img.remove_partial_writes(frame_path(folder, done + 1))  # a kill while it was being written
    return done


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


def _encode(clip: Clip, folder: Path, output: Path, frames: int) -> None:
    paths = [frame_path(folder, i) for i in range(1, frames + 1)]
    audio = (clip.source, clip.first_time) if clip.audio else None
    write_mp4(output, paths, clip.fps, audio)
