"""`python -m bench.video`: does the temporal loss (Ruder et al. 2016) stop the flicker?

Makes a deterministic test clip, a slow pan and zoom over one image (``--source``: scikit-
image's ``astronaut`` or ``coffee``, or the path of an image, e.g. one of ``../shared/images``),
and stylises it twice with ``nst.stylize_video``: with the temporal loss and warm starts, and
as independent frames (``temporal_weight`` 0, each frame a full run from the content).
Reports per frame and in summary:
- temporal error: mean |out_t(x) - out_{t-1}(x')| over the pixels x of frame t whose point x'
  in frame t-1 (the clip's known motion, not the estimated flow) lies inside frame t-1,
  out_{t-1} sampled bilinearly there;
- the style and content losses of each frame's result, as the optimisation reports them;
- seconds per frame (flow, targets, optimisation and write).
Writes JSON and Markdown, and with ``--strip`` a PNG of consecutive frames of both runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.environment import describe_environment
from nst import image as img
from nst.video.frames import frame_path
from nst.video.stylize_video import FRAME_ITERATIONS, TEMPORAL_WEIGHT, stylize_video

RESULTS = Path(__file__).parent / "results"
# The pan and zoom: the camera moves PAN source pixels to the right and zooms in by ZOOM over
# the clip; the frame starts ZOOM_START times larger than the output, so nothing leaves the
# source image.
PAN, ZOOM, ZOOM_START = 0.12, 0.8, 1.25


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.video",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", default="astronaut", help="astronaut, coffee, or an image path")
    parser.add_argument("--style", default="demo", help="demo (nst's generated painting) or an image path")
    parser.add_argument("--frames", type=int, default=48, help="frames of the clip (default: 48)")
    parser.add_argument("--size", type=int, default=256, help="longest side of the frames (default: 256)")
    parser.add_argument(
        "--iterations", type=int, default=100, help="steps of frame 1 and of every independent frame"
    )
    parser.add_argument(
        "--frame-iterations",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[FRAME_ITERATIONS],
        help=f"steps of later frames; a comma list runs each (default: {FRAME_ITERATIONS})",
    )
    parser.add_argument(
        "--temporal-weight",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[TEMPORAL_WEIGHT],
        help=f"a comma list runs each, crossed with --frame-iterations (default: {TEMPORAL_WEIGHT:g})",
    )
    parser.add_argument("--weights", default="vgg16-offline")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strip", action="store_true", help="also write a PNG strip of frames of both runs")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="folder of the results (default: bench/results)"
    )
    parser.add_argument("--name", default=None, help="file stem (default: video-DEVICE-SOURCE-DATE)")
    return parser.parse_args(argv)


def source_image(name: str) -> np.ndarray:
    if name in ("astronaut", "coffee"):
        from skimage import data

        return img.load_image(getattr(data, name)())
    return img.load_image(name)


def camera(frame: int, frames: int, shape: tuple[int, int], source_shape) -> tuple[np.ndarray, float]:
    """Frame ``frame``'s camera: the source point at the output's centre, and source px per
    output px."""
    progress = frame / max(1, frames - 1)
    height, width = shape
    zoom = (
        ZOOM_START
        * (1 + (ZOOM - 1) * progress)
        * max(source_shape[0] / height, source_shape[1] / width)
        / 1.6
    )
    centre = np.array([source_shape[1] * (0.5 - PAN / 2 + PAN * progress), source_shape[0] / 2])
    return centre, zoom


def sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``image`` at H x W x 2 (x, y) points, bilinear."""
    import cv2

    return cv2.remap(
        np.ascontiguousarray(image, np.float32), points[..., 0], points[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


def grid(shape) -> np.ndarray:
    height, width = shape
    return np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1).astype(np.float32)


def make_clip(source: np.ndarray, frames: int, shape) -> list[np.ndarray]:
    """The pan and zoom: frame k shows source point centre_k + zoom_k * (x - middle) at x."""
    middle = (np.array(shape[::-1], np.float32) - 1) / 2
    clip = []
    for k in range(frames):
        centre, zoom = camera(k, frames, shape, source.shape)
        clip.append(
            np.clip(sample(source, (centre + zoom * (grid(shape) - middle)).astype(np.float32)), 0, 1)
        )
    return clip


def known_motion(t: int, frames: int, shape, source_shape) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of frame t, its point in frame t-1, and whether that lies inside frame t-1."""
    middle = (np.array(shape[::-1], np.float32) - 1) / 2
    centre, zoom = camera(t, frames, shape, source_shape)
    before, zoom_before = camera(t - 1, frames, shape, source_shape)
    points = (middle + (centre + zoom * (grid(shape) - middle) - before) / zoom_before).astype(np.float32)
    inside = (
        (points[..., 0] >= 0)
        & (points[..., 0] <= shape[1] - 1)
        & (points[..., 1] >= 0)
        & (points[..., 1] <= shape[0] - 1)
    )
    return points, inside


def temporal_errors(outputs: list[np.ndarray], source_shape) -> list[float]:
    shape = outputs[0].shape[:2]
    errors = []
    for t in range(1, len(outputs)):
        points, inside = known_motion(t, len(outputs), shape, source_shape)
        warped = sample(outputs[t - 1], points)
        errors.append(float(np.abs(outputs[t] - warped)[inside].mean()))
    return errors


def run_clip(
    clip_folder: Path, style: np.ndarray, out: Path, args, temporal_weight: float, frame_iterations: int
):
    result = stylize_video(
        clip_folder, [style], out, backend=args.backend, temporal_weight=temporal_weight,
        frame_iterations=frame_iterations, size=args.size, iterations=args.iterations,
        weights=args.weights, device=args.device, print_every=args.iterations,
    )  # fmt: skip
    frames = [img.load_image(frame_path(out, i)) for i in range(1, result.frames_done + 1)]
    return result, frames


def summarise(result, frames, source_shape) -> dict:
    seconds = [r.seconds for r in result.records]
    errors = temporal_errors(frames, source_shape)
    return {
        "steps": [r.steps for r in result.records],
        "seconds": seconds,
        "style": [r.losses["style"] for r in result.records],
        "content": [r.losses["content"] for r in result.records],
        "temporal_term": [r.losses.get("temporal", 0.0) for r in result.records],
        "temporal_error": errors,
        "mean_temporal_error": statistics.fmean(errors),
        "mean_style": statistics.fmean(r.losses["style"] for r in result.records),
        "mean_content": statistics.fmean(r.losses["content"] for r in result.records),
        "first_seconds": seconds[0],
        "median_later_seconds": statistics.median(seconds[1:]),
    }


def strip(clip, independent, linked, path: Path, count: int = 5) -> None:
    """Rows: the clip, independent frames, with the temporal loss; ``count`` consecutive
    frames from the middle, so flicker shows from one column to the next."""
    start = max(0, len(clip) // 2 - count // 2)
    rows = [("clip", clip), ("independent", independent), ("temporal loss", linked)]
    height, width = clip[0].shape[:2]
    label = 18
    sheet = Image.new("RGB", (count * width, len(rows) * (height + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, frames) in enumerate(rows):
        top = r * (height + label)
        draw.text((4, top + 3), f"{name}: frames {start + 1}-{start + count}", fill="black")
        for c in range(count):
            sheet.paste(img.to_pil(frames[start + c]), (c * width, top + label))
    img.save_image(sheet, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    source = source_image(args.source)
    if args.style == "demo":
        from nst.demo import demo_style

        style = demo_style(args.size, args.size)
    else:
        style = img.load_image(args.style)
    shape = img.longest_side_shape(3, 4, args.size)  # 4:3 frames
    clip = make_clip(source, args.frames, shape)
    settings = [(w, n) for w in args.temporal_weight for n in args.frame_iterations]
    with tempfile.TemporaryDirectory() as work:
        clip_folder = Path(work) / "clip"
        clip_folder.mkdir()
        for i, frame in enumerate(clip):
            img.save_image(frame, clip_folder / f"{i:04d}.png")
        clip = [img.load_image(clip_folder / f"{i:04d}.png") for i in range(len(clip))]
        independent, independent_frames = run_clip(
            clip_folder, style, Path(work) / "independent", args, 0.0, args.iterations
        )
        runs = {"independent": summarise(independent, independent_frames, source.shape)}
        first_linked_frames = None
        for weight, frame_iterations in settings:
            out = Path(work) / f"linked-{weight:g}-{frame_iterations}"
            linked, linked_frames = run_clip(clip_folder, style, out, args, weight, frame_iterations)
            runs[run_name(weight, frame_iterations)] = summarise(linked, linked_frames, source.shape) | {
                "temporal_weight": weight,
                "frame_iterations": frame_iterations,
            }
            first_linked_frames = first_linked_frames or linked_frames
        stem = args.out / (args.name or f"video-{args.device}-{Path(args.source).stem}-{date.today()}")
        if args.strip:
            strip(clip, independent_frames, first_linked_frames, stem.with_name(stem.name + "-strip.png"))
    base = runs["independent"]
    comparisons = [
        {
            "run": run_name(weight, frame_iterations),
            "temporal_error_ratio": run["mean_temporal_error"] / base["mean_temporal_error"],
            "style_ratio": run["mean_style"] / base["mean_style"],
            "later_to_first_seconds": run["median_later_seconds"] / run["first_seconds"],
        }
        for (weight, frame_iterations), run in zip(settings, list(runs.values())[1:])
    ]
    report = {
        "date": str(date.today()),
        "command": "python -m bench.video " + " ".join(argv if argv is not None else sys.argv[1:]),
        "source": args.source,
        "style": args.style,
        "frames": args.frames,
        "shape": list(shape),
        "settings": {k: getattr(args, k) for k in ("iterations", "weights", "backend", "device")},
        "environment": describe_environment(args.device),
        "runs": runs,
        "comparisons": comparisons,
    }
    stem.with_name(stem.name + ".json").write_text(json.dumps(report, indent=1))
    summary = describe(report)
    stem.with_name(stem.name + ".md").write_text(summary)
    print(summary)
    return 0


def run_name(weight: float, frame_iterations: int) -> str:
    return f"temporal weight {weight:g}, later frames {frame_iterations} steps"


def describe(report: dict) -> str:
    runs, s = report["runs"], report["settings"]
    rows = [
        f"| {name} | {r['mean_temporal_error']:.4f} | {r['mean_style']:.4g} | {r['mean_content']:.4g} | "
        f"{r['first_seconds']:.1f} | {r['median_later_seconds']:.1f} |"
        for name, r in runs.items()
    ]
    ratios = [
        f"| {c['run']} | {c['temporal_error_ratio']:.3f} | {c['style_ratio']:.3f} | "
        f"{c['later_to_first_seconds']:.3f} |"
        for c in report["comparisons"]
    ]
    return (
        f"# Video: temporal loss vs independent frames ({report['date']})\n\n"
        f"`{report['command']}`\n\n"
        f"Clip: {report['frames']} frames of {report['shape'][1]}x{report['shape'][0]} px, "
        f"a pan and zoom over {report['source']}; style {report['style']}; "
        f"{s['weights']}, {s['backend']} on {s['device']} "
        f"({report['environment']['cpu']}). Frame 1 and independent frames: {s['iterations']} "
        "L-BFGS steps.\n\n"
        "| run | temporal error | style loss / frame | content loss / frame | s, frame 1 "
        "| s, later (median) |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        "Against the independent frames (targets: temporal error at most 0.5, style loss within "
        "10%, a later frame at most 0.6 of the first's seconds):\n\n"
        "| run | temporal error ratio | style loss ratio | later / first frame seconds |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(ratios) + "\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
