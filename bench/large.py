"""`python -m bench.large`: tiled against whole-image evaluation (docs/tiling.md).

Per backend, on ``--weights`` (the offline VGG16 unless told) and nst's demo pair at the
default objective:
- **exactness and cost** at ``--compare-size`` (both fit): for the whole image and each of
  ``--tiles``, seconds per loss-and-gradient evaluation (median after a warm-up), peak memory
  (RSS on the CPU), and the tiled loss's relative difference and gradient's cosine against
  the whole image's;
- **overhead** at ``--overhead-size``: each tile size's measured time over the whole image's,
  against what its arithmetic predicts (a forward pass plus a forward-and-backward pass over
  the tiles with their halos, against one forward-and-backward pass of the image; the
  backward pass costs about two forward passes, so 1.5 x the tiles' area over the image's);
- **a poster** at ``--poster-size``: a few optimiser steps with ``--poster-tile``, seconds per
  step and peak RSS.
Every measurement runs in a fresh process, so each peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from bench.environment import describe_environment
from nst.options.kinds import whole_numbers

RESULTS = Path(__file__).parent / "results"
# The backward pass of a convolution for the input's gradient costs about two forward passes.
FORWARD_AND_BACKWARD = 2.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.large",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--weights", default="vgg16-offline", help="a weight name or file (default: vgg16-offline)"
    )
    parser.add_argument("--compare-size", type=int, default=1024, help="0: skip")
    parser.add_argument("--tiles", type=whole_numbers, default=(256, 512))
    parser.add_argument("--overhead-size", type=int, default=2048, help="0: skip")
    parser.add_argument("--overhead-tiles", type=whole_numbers, default=(256, 512, 1024))
    parser.add_argument("--poster-size", type=int, default=4096, help="0: skip")
    parser.add_argument("--poster-tile", type=int, default=1024)
    parser.add_argument("--poster-steps", type=int, default=2)
    parser.add_argument("--optimizer", default="adam", help="of the poster run")
    parser.add_argument("--evaluations", type=int, default=2, help="timed evaluations after a warm-up")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", help="file stem (default: large-<device>-<date>)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # one measurement, in a child process
    return parser.parse_args(argv)


def peak_memory_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def prepared(backend: str, device: str, weights: str, size: int, tile: int | None, **options):
    from nst.demo import demo_content, demo_style
    from nst.options.config import make_config
    from nst.stylize import StyleTransfer

    tile_option = "off" if tile is None else str(tile)
    cfg = make_config(weights=weights, size=size, scales=1, device=device, tile=tile_option, **options)
    return StyleTransfer(cfg, backend).prepare(demo_content(), [demo_style()])


def measure_evaluation(case: dict) -> dict:
    """Seconds per loss-and-gradient evaluation of the recolored start, its loss terms and
    gradient (saved to ``case['gradient']``), and the process's peak memory."""
    if case["tile"] is None:
        # The whole image is measured even where nst's estimate of a run would refuse it (it
        # counts L-BFGS's pairs, which one evaluation does not hold): the overhead needs its time.
        from nst import memory

        memory.machine_memory_bytes = lambda: None
    started = time.perf_counter()
    transfer = prepared(case["backend"], case["device"], case["weights"], case["size"], case["tile"])
    scale, backend = transfer.scale, transfer.backend
    prepare_seconds = time.perf_counter() - started
    image = transfer.initial_image()
    seconds = []
    for _ in range(1 + case["evaluations"]):
        started = time.perf_counter()
        gradient = backend.loss_gradient(transfer.net, scale.targets, image, scale.spec, scale.tile)
        seconds.append(time.perf_counter() - started)
    terms = backend.loss_terms(transfer.net, scale.targets, image, scale.spec, scale.tile)
    np.save(case["gradient"], gradient)
    return {
        "prepare_seconds": prepare_seconds,
        "first_seconds": seconds[0],
        "seconds": statistics.median(seconds[1:]),
        "terms": terms,
        "peak_bytes": peak_memory_bytes(case["device"]),
        "shape": list(image.shape[:2]),
        "arch": transfer.net.arch.name,
    }


def measure_poster(case: dict) -> dict:
    """A few optimiser steps at the poster's size: seconds per step and peak memory."""
    started = time.perf_counter()
    transfer = prepared(
        case["backend"],
        case["device"],
        case["weights"],
        case["size"],
        case["tile"],
        iterations=case["steps"],
        optimizer=case["optimizer"],
        print_every=1,
    )
    prepare_seconds = time.perf_counter() - started
    result = transfer.run()
    times = [entry["seconds"] for entry in result.history]
    steps = np.diff([0.0, *times])
    return {
        "prepare_seconds": prepare_seconds,
        "step_seconds": [float(s) for s in steps],
        "finite": bool(np.isfinite(result.image).all()),
        "peak_bytes": peak_memory_bytes(case["device"]),
        "shape": list(result.image.shape[:2]),
    }


def in_child(case: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.large", "--measure", json.dumps(case)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def tile_area(shape, tile: int, arch_name: str) -> int:
    """Pixels of all tiles' inputs, halos included, for ``nst.tiling``'s plan at ``shape``
    (the halos grow with the network's depth: VGG19's are wider than VGG16's)."""
    from nst.arch import ARCHS
    from nst.options.config import make_config
    from nst.tiling import plan_tiles

    layers = make_config().loss_spec(1).layers
    plan = plan_tiles(shape[0], shape[1], tile, ARCHS[arch_name], layers)
    return plan.count * plan.side**2


def compare(backend: str, args, size: int, tiles) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        whole_gradient = Path(scratch) / "whole.npy"
        base = {
            "backend": backend,
            "device": args.device,
            "weights": args.weights,
            "size": size,
            "evaluations": args.evaluations,
        }
        whole = in_child({**base, "kind": "evaluate", "tile": None, "gradient": str(whole_gradient)})
        rows.append({"backend": backend, "size": size, "tile": None, **whole})
        for tile in tiles:
            path = Path(scratch) / f"tile-{tile}.npy"
            tiled = in_child({**base, "kind": "evaluate", "tile": tile, "gradient": str(path)})
            row = {"backend": backend, "size": size, "tile": tile, **tiled}
            if "error" not in tiled and "error" not in whole:
                # float64: a float32 dot product over millions of values is off by more than 1e-5
                a, b = np.load(whole_gradient).astype(np.float64), np.load(path).astype(np.float64)
                row["loss_relative_difference"] = abs(
                    tiled["terms"]["total"] - whole["terms"]["total"]
                ) / abs(whole["terms"]["total"])
                row["gradient_cosine"] = float(np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b))
                shape = whole["shape"]
                predicted = (1 + FORWARD_AND_BACKWARD) * tile_area(shape, tile, whole["arch"])
                predicted /= FORWARD_AND_BACKWARD * shape[0] * shape[1]
                row["predicted_ratio"] = predicted
                row["measured_ratio"] = tiled["seconds"] / whole["seconds"]
                row["overhead"] = row["measured_ratio"] / predicted
            rows.append(row)
    return rows


def write_markdown(path: Path, report: dict) -> None:
    gib = 2**30
    lines = [
        "# Tiled against whole-image evaluation",
        "",
        f"`{report['command']}` on {report['environment'].get('cpu', report['device'])}, {report['date']}.",
    ]
    if report["evaluations"]:
        lines += [
            "",
            "| backend | size | tile | s / evaluation | peak GiB | loss rel. diff | grad cosine | "
            "measured / whole | predicted | overhead |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    for row in report["evaluations"]:
        if "error" in row:
            lines.append(
                f"| {row['backend']} | {row['size']} | {row['tile'] or 'whole'} | failed: {row['error']} |"
            )
            continue
        cells = [
            row["backend"],
            f"{row['shape'][1]}x{row['shape'][0]}",
            str(row["tile"] or "whole"),
            f"{row['seconds']:.2f}",
            f"{row['peak_bytes'] / gib:.2f}",
        ]
        if row["tile"] and "overhead" in row:
            cells += [
                f"{row['loss_relative_difference']:.1e}",
                f"{row['gradient_cosine']:.7f}",
                f"{row['measured_ratio']:.2f}",
                f"{row['predicted_ratio']:.2f}",
                f"{row['overhead']:.2f}",
            ]
        else:
            cells += ["-"] * 5
        lines.append("| " + " | ".join(cells) + " |")
    if report["posters"]:
        lines += [
            "",
            "| backend | size | tile | optimizer | prepare s | s / step | peak GiB |",
            "| --- " * 7 + "|",
        ]
        for row in report["posters"]:
            if "error" in row:
                lines.append(f"| {row['backend']} | {row['size']} | {row['tile']} | failed: {row['error']} |")
                continue
            per_step = statistics.median(row["step_seconds"])
            size = f"{row['shape'][1]}x{row['shape'][0]}"
            lines.append(
                f"| {row['backend']} | {size} | {row['tile']} | {row['optimizer']} | "
                f"{row['prepare_seconds']:.0f} | {per_step:.0f} | {row['peak_bytes'] / gib:.2f} |"
            )
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure:
        case = json.loads(args.measure)
        result = measure_evaluation(case) if case["kind"] == "evaluate" else measure_poster(case)
        print(json.dumps(result))
        return 0
    backends = [b for b in args.backends.split(",") if b]
    report = {
        "command": "python -m bench.large " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": date.today().isoformat(),
        "device": args.device,
        "environment": describe_environment(args.device),
        "evaluations": [],
        "posters": [],
    }
    for backend in backends:
        if args.compare_size:
            report["evaluations"] += compare(backend, args, args.compare_size, args.tiles)
        if args.overhead_size:
            report["evaluations"] += compare(backend, args, args.overhead_size, args.overhead_tiles)
        if args.poster_size:
            case = {
                "kind": "poster",
                "backend": backend,
                "device": args.device,
                "weights": args.weights,
                "size": args.poster_size,
                "tile": args.poster_tile,
                "steps": args.poster_steps,
                "optimizer": args.optimizer,
            }
            report["posters"].append({**case, **in_child(case)})
        print(json.dumps((report["evaluations"] + report["posters"])[-1]), flush=True)
    stem = args.name or f"large-{args.device.split(':')[0]}-{report['date']}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    write_markdown(args.out / f"{stem}.md", report)
    print(f"wrote {args.out / stem}.json and .md")
    return 1 if any("error" in row for row in report["evaluations"] + report["posters"]) else 0


if __name__ == "__main__":
    sys.exit(main())
