"""Clips in and out: a video file FFmpeg reads (PyAV), a folder of frames or a glob of them;
MP4 (H.264, the input's audio re-encoded as AAC) or a folder of PNG frames.

Frames are held as H x W x 3 uint8 arrays already resized to the run's size, so a clip of a
few thousand frames fits in memory. A folder or glob of frames has no frame rate of its own:
it plays at ``FOLDER_FPS``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from nst import image as img
from nst.errors import NstError
from nst.video.deps import require

FOLDER_FPS = Fraction(25)
VIDEO_SUFFIXES = (".mp4",)
VIDEO_CODEC, AUDIO_CODEC = "libx264", "aac"
# H.264's visually lossless setting: the stylised frames' fine strokes survive the encode.
CRF = "18"


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]  # H x W x 3 uint8, at the run's size
    fps: Fraction
    first_time: float  # seconds, of frames[0] in the source
    source: str
    audio: bool  # a video file with an audio stream


def frame_shape(height: int, width: int, size: int, even: bool) -> tuple[int, int]:
    """The run's frame size: longest side ``size``; both sides even for H.264 (its 4:2:0
    chroma), losing at most a row and a column."""
    height, width = img.longest_side_shape(height, width, size)
    if even:
        height, width = max(2, height - height % 2), max(2, width - width % 2)
    return height, width


def read_clip(
    source: str,
    size: int,
    even: bool,
    start: float = 0.0,
    end: float | None = None,
    max_frames: int | None = None,
) -> Clip:
    """The frames of ``source`` whose times are in [start, end), at most ``max_frames``."""
    if end is not None and end <= start:
        raise NstError(f"--start ({start:g} s) must be before --end ({end:g} s)")
    if any(char in source for char in "*?[") or Path(source).is_dir():
        clip = _read_frame_files(source, size, even, start, end, max_frames)
    else:
        clip = _read_video(source, size, even, start, end, max_frames)
    if not clip.frames:
        span = f"{start:g} s .. {'end' if end is None else f'{end:g} s'}"
        raise NstError(f"{source} has no frames between {span}; check --start and --end")
    return clip


def _frame_files(source: str) -> list[str]:
    if Path(source).is_dir():
        files = [str(p) for p in Path(source).iterdir() if p.suffix.lower() in img.SAVE_FORMATS]
        if not files:
            raise NstError(f"{source} holds no image files ({', '.join(img.SAVE_FORMATS)})")
    else:
        files = [f for f in glob.glob(source) if Path(f).is_file()]
        if not files:
            raise NstError(f"no files match {source}")
    return sorted(files)


def _read_frame_files(source, size, even, start, end, max_frames) -> Clip:
    frames: list[np.ndarray] = []
    first_time = 0.0
    for index, path in enumerate(_frame_files(source)):
        time = float(index / FOLDER_FPS)
        if time < start:
            continue
        if (end is not None and time >= end) or len(frames) == max_frames:
            break
        if not frames:
            first_time = time
        frames.append(_resized(img.load_image(path), size, even))
        if frames[0].shape != frames[-1].shape:
            raise NstError(f"{path} has another aspect ratio than the first frame; frames must match")
    return Clip(frames, FOLDER_FPS, first_time, source, audio=False)


def _resized(frame: np.ndarray, size: int, even: bool) -> np.ndarray:
    height, width = frame_shape(frame.shape[0], frame.shape[1], size, even)
    return np.rint(np.clip(img.resize_to(frame, height, width), 0, 1) * 255).astype(np.uint8)


def open_video(path: str):
    """A PyAV input container, or one NstError that says why not."""
    av = require("av")
    if not Path(path).exists():
        raise NstError(f"no such file: {path} (check the path)")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise NstError(f"cannot read a video from {path}: {error}") from None
    if not container.streams.video:
        container.close()
        raise NstError(f"{path} has no video stream")
    return container


def _read_video(path, size, even, start, end, max_frames) -> Clip:
    av = require("av")
    frames: list[np.ndarray] = []
    first_time = 0.0
    with open_video(path) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate or FOLDER_FPS
        audio = bool(container.streams.audio)
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else float(index / fps)
                if time < start - 1e-6:
                    continue
                if (end is not None and time >= end - 1e-6) or len(frames) == max_frames:
                    break
                if not frames:
                    first_time = time
                rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255
                frames.append(_resized(rgb, size, even))
        except av.error.FFmpegError as error:
            raise NstError(f"cannot decode {path}: {error}") from None
    return Clip(frames, Fraction(fps), first_time, path, audio)


# ---------------------------------------------------------------------------------- writing


def output_kind(output: Path) -> str:
    """'video' for an .mp4 path, 'frames' for a folder (an existing one, or a name without a
    suffix)."""
    if output.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    if output.is_dir() or not output.suffix:
        return "frames"
    raise NstError(
        f"cannot write {output}: give an .mp4 file or a folder for the frames (a name without a suffix)"
    )


def check_writable(directory: Path) -> None:
    if not directory.is_dir():
        raise NstError(f"output directory does not exist: {directory} (create it first)")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise NstError(f"output directory is not writable: {directory}; choose another -o")


def check_codecs(audio: bool) -> None:
    """Fail before any work when this PyAV cannot encode H.264 (or AAC, for the audio)."""
    av = require("av")
    for codec in (VIDEO_CODEC, AUDIO_CODEC) if audio else (VIDEO_CODEC,):
        try:
            av.codec.Codec(codec, "w")
        except Exception:  # PyAV raises its own error types for an unknown or read-only codec
            raise NstError(
                f"this PyAV ({av.__version__}) cannot encode {codec}; write a folder of frames "
                "instead (-o a name without a suffix)"
            ) from None


def frame_path(folder: Path, index: int) -> Path:
    """Frame ``index`` (from 1) of a frames folder."""
    return folder / f"frame_{index:06d}.png"


def write_mp4(
    output: Path, frames: Sequence[Path], fps: Fraction, audio_from: tuple[str, float] | None = None
) -> None:
    """Encode ``frames`` (PNG files) as H.264 at ``fps`` into ``output``, atomically; with
    ``audio_from`` (the source video, the time of its first frame), the source's audio over
    the same span, as AAC."""
    av = require("av")
    partial = output.with_name(f".{output.stem}-partial{output.suffix}")
    try:
        with av.open(str(partial), "w", format="mp4") as container:
            first = np.asarray(img.load_image(frames[0]))
            stream = container.add_stream(VIDEO_CODEC, rate=fps, options={"crf": CRF})
            stream.height, stream.width = first.shape[:2]
            stream.pix_fmt = "yuv420p"
            audio = None
            if audio_from is not None:
                audio = _AudioCopy(container, *audio_from, duration=float(len(frames) / fps))
            for path in frames:
                rgb = np.rint(img.load_image(path) * 255).astype(np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            container.mux(stream.encode(None))
            if audio is not None:
                audio.copy()
        os.replace(partial, output)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, (OSError, av.error.FFmpegError)):
            raise NstError(f"cannot write {output}: {error}") from None
        raise


class _AudioCopy:
    """The source's first audio stream over [first, first + duration), re-encoded as AAC (any
    source codec then fits MP4, and the cut falls on the frames' span)."""

    def __init__(self, container, source: str, first: float, duration: float):
        av = require("av")
        self.source, self.start, self.end = source, first, first + duration
        with open_video(source) as probe:
            if not probe.streams.audio:
                raise NstError(f"{source} has no audio stream")
            rate = probe.streams.audio[0].rate
            layout = probe.streams.audio[0].layout.name
        self.stream = container.add_stream(AUDIO_CODEC, rate=rate, layout=layout)
        self.container = container
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self.rate = rate

    def copy(self) -> None:
        written = 0
        with open_video(self.source) as source:
            for frame in source.decode(source.streams.audio[0]):
                if frame.time is None:
                    continue
                frame_end = frame.time + frame.samples / frame.sample_rate
                if frame_end <= self.start or frame.time >= self.end:
                    continue
                for chunk in self.resampler.resample(frame):
                    written = self._encode(chunk, written)
        for chunk in self.resampler.resample(None):
            written = self._encode(chunk, written)
        self.container.mux(self.stream.encode(None))

    def _encode(self, chunk, written: int) -> int:
        chunk.pts, chunk.time_base = written, Fraction(1, self.rate)
        self.container.mux(self.stream.encode(chunk))
        return written + chunk.samples
