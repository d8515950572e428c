"""`nst video` and ``nst.stylize_video`` on generated clips of a few 64-96 px frames with the
tiny random VGG: flow and confidence, frames and MP4 in and out (frame rate, audio), the
temporal term's effect, resume, Ctrl-C, and every bad input."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from nst import image as img  # noqa: E402
from nst.cli import main  # noqa: E402
from nst.events import Stopped  # noqa: E402
from nst.video import flow, frames  # noqa: E402
from nst.video.stylize_video import stylize_video  # noqa: E402
from tests.helpers import SHALLOW, smooth_image, tiny_weights_file, write_image  # noqa: E402

HEIGHT, WIDTH = 48, 64


def pan(count: int, step: int = 2, seed: int = 3) -> list[np.ndarray]:
    """A pan to the right over a smooth image, ``step`` px per frame."""
    scene = smooth_image(HEIGHT + 8, WIDTH + step * count + 8, seed)
    return [scene[4 : 4 + HEIGHT, 4 + step * i : 4 + step * i + WIDTH] for i in range(count)]


def write_folder(folder: Path, clip: list[np.ndarray]) -> Path:
    folder.mkdir()
    for i, frame in enumerate(clip):
        img.save_image(frame, folder / f"in_{i:03d}.png")
    return folder


def write_mp4(path: Path, clip: list[np.ndarray], fps: int = 12, audio: bool = True) -> Path:
    """An H.264 clip, with a 440 Hz tone as AAC audio over its whole length."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.height, video.width, video.pix_fmt = HEIGHT, WIDTH, "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        for frame in clip:
            rgb = np.rint(frame * 255).astype(np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            samples = int(16000 * len(clip) / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        info = {"fps": video.average_rate, "frames": len(decoded), "shape": decoded[0].shape}
        info["audio"] = bool(container.streams.audio)
    if info["audio"]:
        with av.open(str(path)) as container:
            info["audio_seconds"] = sum(f.samples / f.sample_rate for f in container.decode(audio=0))
    return info


@pytest.fixture
def style(tmp_path) -> Path:
    return write_image(tmp_path / "style.png", 48, 48, seed=2)


@pytest.fixture
def weights(tmp_path) -> Path:
    return tiny_weights_file(tmp_path)


def options(weights: Path, **extra) -> dict:
    return {
        "weights": str(weights),
        "size": WIDTH,
        "iterations": 6,
        "frame_iterations": 3,
        **SHALLOW,
        **extra,
    }


def cli(*argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


# --- flow ---------------------------------------------------------------------------------


def test_warping_with_the_flow_recovers_the_next_frame():
    first, second = pan(2, step=3)
    warped, confidence = flow.link(first, second, first)
    inner = confidence > 0
    assert np.abs(warped - second)[inner].mean() < 0.01 < np.abs(first - second).mean()
    # The pan brings 3 new columns in at the right: no pixel of the last frame shows there.
    assert confidence[:, -3:].max() == 0 and confidence[:, :-6].mean() > 0.95


def test_confidence_marks_a_disocclusion():
    # A square moves 6 px right over a still background: the strip it uncovers has no source.
    background = smooth_image(HEIGHT, WIDTH, 1)
    first, second = background.copy(), background.copy()
    first[16:32, 16:32], second[16:32, 22:38] = 0.95, 0.95
    backward, forward = flow.flow(second, first), flow.flow(first, second)
    confidence = flow.confidence(backward, forward)
    assert confidence[18:30, 17:21].mean() < 0.5  # uncovered by the square
    assert confidence[:, 44:].mean() > 0.9  # still background, far from it


# --- frames in and out --------------------------------------------------------------------


def test_mp4_in_mp4_out_keeps_frame_rate_and_audio(tmp_path, style, weights, capsys):
    clip = write_mp4(tmp_path / "clip.mp4", pan(5), fps=12)
    out = tmp_path / "styled.mp4"
    code, err = cli(
        "video", clip, style, "-o", out, "--weights", weights, "--size", WIDTH, "--iterations", 4,
        "--frame-iterations", 2, "--style-layers", "relu1_1,relu2_1", "--content-layers", "relu2_1",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    info = probe(out)
    assert info["fps"] == 12 and info["frames"] == 5 and info["shape"] == (HEIGHT, WIDTH, 3)
    assert info["audio"] and info["audio_seconds"] == pytest.approx(5 / 12, abs=0.1)
    assert not (tmp_path / "styled.nst-frames").exists(), "the work folder outlived a finished run"


def indexed_clip(count: int) -> list[np.ndarray]:
    """Frame i flat grey at ``level(i)``: 0.1 apart, its index survives H.264 and one Adam step
    (which moves a pixel by at most --lr, 0.02)."""
    return [np.full((HEIGHT, WIDTH, 3), level(i), np.float32) for i in range(count)]


def level(index: int) -> float:
    return 0.15 + 0.1 * index


def frame_indices(folder: Path) -> list[int]:
    """The source frame each written frame shows, read from its mean grey level."""
    means = [float(img.load_image(p).mean()) for p in sorted(folder.glob("frame_*.png"))]
    indices = [round((mean - level(0)) / 0.1) for mean in means]
    assert all(abs(mean - level(i)) < 0.04 for mean, i in zip(means, indices)), means
    return indices


@pytest.mark.parametrize(
    "selection, expected",
    [
        pytest.param(["--start", 0.2, "--end", 0.6], [2, 3, 4, 5], id="start-end"),
        pytest.param(["--max-frames", 3], [0, 1, 2], id="max-frames"),
        pytest.param(["--start", 0.3, "--max-frames", 2], [3, 4], id="start-max-frames"),
    ],
)
def test_start_end_and_max_frames_select_frames(tmp_path, style, weights, capsys, selection, expected):
    # Frames at 0.0, 0.1, ..., 0.7 s; independent frames, each one Adam step from its own pixels.
    clip = write_mp4(tmp_path / "clip.mp4", indexed_clip(8), fps=10, audio=False)
    code, err = cli(
        "video", clip, style, "-o", tmp_path / "out", "--weights", weights, "--size", WIDTH,
        "--iterations", 1, "--optimizer", "adam", "--init", "content", "--temporal-weight", 0,
        "--style-layers", "relu1_1,relu2_1", "--content-layers", "relu2_1", *selection, capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert frame_indices(tmp_path / "out") == expected


def test_the_mp4_holds_the_frames_written_as_pngs(tmp_path, style, weights):
    clip = write_mp4(tmp_path / "clip.mp4", pan(4), fps=8, audio=False)
    work = tmp_path / "out.nst-frames"
    written: list[np.ndarray] = []

    def keep_the_pngs(progress):  # the work folder is removed once the MP4 is encoded
        if progress.step is None and progress.frame == progress.frames:
            written.extend(img.load_image(p) for p in sorted(work.glob("frame_*.png")))

    stylize_video(clip, [style], tmp_path / "out.mp4", callback=keep_the_pngs, **options(weights))
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") / np.float32(255) for f in container.decode(video=0)]
    assert len(decoded) == len(written) == 4
    for index, frame in enumerate(decoded):
        errors = [float(np.abs(frame - png).mean()) for png in written]
        # H.264 at CRF 18 in 4:2:0 costs about 0.013 here; neighbouring frames differ by 0.045.
        assert errors[index] < 0.025 and int(np.argmin(errors)) == index, errors


def test_folder_in_mp4_out_at_the_folder_rate_with_even_sides(tmp_path, style, weights):
    source = write_folder(tmp_path / "in", pan(3))
    result = stylize_video(str(source / "*.png"), [style], tmp_path / "o.mp4", **options(weights, size=63))
    info = probe(result.output)
    assert info["fps"] == frames.FOLDER_FPS and info["frames"] == 3
    assert info["shape"][0] % 2 == 0 and info["shape"][1] % 2 == 0  # 63x47 -> 62x46 for H.264


# --- the method ---------------------------------------------------------------------------


def test_later_frames_start_warm_with_the_temporal_term(tmp_path, style, weights):
    source = write_folder(tmp_path / "in", pan(3))
    linked = stylize_video(source, [style], tmp_path / "a", **options(weights))
    independent = stylize_video(source, [style], tmp_path / "b", temporal_weight=0, **options(weights))
    assert [r.steps for r in linked.records] == [6, 3, 3]
    assert "temporal" not in linked.records[0].losses and linked.records[1].losses["temporal"] > 0
    assert [r.steps for r in independent.records] == [6, 6, 6]
    assert all("temporal" not in r.losses for r in independent.records)


def temporal_error(folder: Path, step: int) -> float:
    """Mean |out_t - out_{t-1} shifted by the pan|: what flickers."""
    out = [img.load_image(p) for p in sorted(folder.glob("frame_*.png"))]
    return float(np.mean([np.abs(b[:, : -step - 4] - a[:, step:-4]).mean() for a, b in zip(out, out[1:])]))


def test_the_temporal_term_reduces_flicker(tmp_path, style, weights):
    source = write_folder(tmp_path / "in", pan(4))
    common = options(weights, iterations=10, frame_iterations=10, init="noise")
    stylize_video(source, [style], tmp_path / "a", temporal_weight=1e4, **common)
    stylize_video(source, [style], tmp_path / "b", temporal_weight=0, **common)
    assert temporal_error(tmp_path / "a", 2) < 0.5 * temporal_error(tmp_path / "b", 2)


def test_jax_backend_runs_a_clip(tmp_path, style, weights):
    pytest.importorskip("jax")
    source = write_folder(tmp_path / "in", pan(3))
    result = stylize_video(source, [style], tmp_path / "out", backend="jax", **options(weights))
    assert result.frames_done == 3 and result.records[2].losses["temporal"] > 0


# --- resume and Ctrl-C --------------------------------------------------------------------


def test_a_rerun_continues_and_makes_the_same_frames(tmp_path, style, weights):
    source = write_folder(tmp_path / "in", pan(4))
    out = tmp_path / "out"
    stylize_video(source, [style], out, **options(weights))
    whole = {p.name: p.read_bytes() for p in out.glob("frame_*.png")}
    for name in ("frame_000003.png", "frame_000004.png"):
        (out / name).unlink()
    (out / ".frame_000003-k1ll3d00.png").write_bytes(b"cut short")  # a write a kill interrupted
    result = stylize_video(source, [style], out, **options(weights))
    assert result.resumed_from == 2 and [r.frame for r in result.records] == [3, 4]
    assert {p.name: p.read_bytes() for p in out.glob("frame_*.png")} == whole
    assert not list(out.glob(".frame_*"))


def test_other_settings_do_not_resume_into_a_folder(tmp_path, style, weights, capsys):
    source = write_folder(tmp_path / "in", pan(2))
    stylize_video(source, [style], tmp_path / "out", **options(weights))
    code, err = cli(
        "video", source, style, "-o", tmp_path / "out", "--weights", weights, "--size", WIDTH,
        "--iterations", 5, capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "other inputs or settings" in err


def test_ctrl_c_leaves_a_playable_video_and_a_rerun_finishes(tmp_path, style, weights):
    clip = write_mp4(tmp_path / "clip.mp4", pan(4), fps=8)
    out = tmp_path / "out.mp4"

    def interrupt_after_two(progress):
        if progress.step is None and progress.frame == 2:
            raise KeyboardInterrupt

    result = stylize_video(clip, [style], out, callback=interrupt_after_two, **options(weights))
    assert result.stopped is Stopped.INTERRUPTED and result.frames_done == 2
    assert probe(out)["frames"] == 2 and probe(out)["audio"]
    assert (tmp_path / "out.nst-frames").is_dir()
    result = stylize_video(clip, [style], out, **options(weights))
    assert result.stopped is Stopped.COMPLETED and result.resumed_from == 2
    assert probe(out)["frames"] == 4 and not (tmp_path / "out.nst-frames").exists()


# --- bad input ----------------------------------------------------------------------------


def video_args(source, style, out, weights, *extra):
    return (
        "video",
        source,
        style,
        "-o",
        out,
        "--weights",
        weights,
        "--size",
        WIDTH,
        "--iterations",
        2,
        *extra,
    )


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("not a video", "cannot read a video"),
        ("no frames in range", "no frames between"),
        ("start after end", "must be before --end"),
        ("unwritable output", "output directory does not exist"),
        ("bad output suffix", "give an .mp4 file or a folder"),
    ],
)
def test_bad_input_is_one_line_and_nothing_written(tmp_path, style, weights, capsys, case, fragment):
    clip = write_mp4(tmp_path / "clip.mp4", pan(3), fps=10, audio=False)
    out, extra = tmp_path / "out.mp4", ()
    if case == "not a video":
        clip = tmp_path / "notes.mp4"
        clip.write_text("not a video")
    elif case == "no frames in range":
        extra = ("--start", 5)
    elif case == "start after end":
        extra = ("--start", 0.3, "--end", 0.1)
    elif case == "unwritable output":
        out = tmp_path / "missing" / "out.mp4"
    else:
        out = tmp_path / "out.gif"
    before = sorted(tmp_path.iterdir())
    code, err = cli(*video_args(clip, style, out, weights, *extra), capsys=capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert sorted(tmp_path.iterdir()) == before


def test_a_codec_pyav_cannot_write_is_one_line(tmp_path, style, weights, capsys, monkeypatch):
    monkeypatch.setattr(frames, "VIDEO_CODEC", "no-such-codec")
    clip = write_mp4(tmp_path / "clip.mp4", pan(2), fps=10, audio=False)
    before = sorted(tmp_path.iterdir())
    code, err = cli(*video_args(clip, style, tmp_path / "out.mp4", weights), capsys=capsys)
    assert code == 2 and "cannot encode no-such-codec" in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("module", ["av", "cv2"])
def test_a_missing_video_extra_names_it(tmp_path, style, weights, capsys, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    source = write_folder(tmp_path / "in", pan(2))
    code, err = cli(*video_args(source, style, tmp_path / "out", weights), capsys=capsys)
    assert code == 2 and "pip install 'nst[video]'" in err and len(err.strip().splitlines()) == 1


def test_fps_of_a_clip_is_a_fraction(tmp_path):
    clip = write_mp4(tmp_path / "clip.mp4", pan(2), fps=12, audio=False)
    read = frames.read_clip(str(clip), WIDTH, even=True)
    assert read.fps == Fraction(12) and len(read.frames) == 2 and not read.audio
