"""`python -m bench.batch`: images per hour for a batch of same-size images, four ways.

- shell loop: `nst stylize` once per image, each run paying Python's start, the imports, the
  weights and (JAX) the compilation;
- single runs: ``nst.stylize`` once per image in one process (the imports paid once; the
  weights and network loaded again for every image);
- nst batch, one worker: the network loaded and the step compiled once, the images one
  after another;
- nst batch, batched: ``--batch-size B``, B images in one optimisation;
- nst batch, N workers: ``--device cpu,cpu,...``, one process each, sharing the cores.

``--exactness`` instead compares, per image, the final loss of a batched run with that of the
image run alone, for each backend and optimiser after ``--exact-steps`` steps.

Every way renders the same images with the same settings; the JSON keeps each way's wall
time (from before its imports to its last image written) and the environment, the Markdown
a table. docs/batch.md has the measured runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.environment import describe_environment


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--images", type=int, default=16, help="images in the batch (default: 16)")
    parser.add_argument("--size", type=int, default=128, help="longest side in px (default: 128)")
    parser.add_argument("--iterations", type=int, default=10, help="L-BFGS steps per image (default: 10)")
    parser.add_argument("--backends", default="torch,jax", help="comma list (default: torch,jax)")
    parser.add_argument("--weights", default="vgg16-offline", help="network weights (default: vgg16-offline)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes of the last way (default: 2)"
    )
    parser.add_argument("--batch-sizes", default="4", help="comma list of --batch-size ways (default: 4)")
    parser.add_argument("--exactness", action="store_true", help="compare batched with single runs instead")
    parser.add_argument("--exact-steps", default="20,200", help="steps of --exactness (default: 20,200)")
    parser.add_argument("--device", default="cpu", help="device of every way (default: cpu)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--tag", default="cpu", help="file name tag (default: cpu)")
    return parser.parse_args(argv)


def make_inputs(folder: Path, count: int, size: int) -> tuple[list[Path], Path]:
    """``count`` smooth random photos and one style image, all ``size`` px square."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    paths = []
    for index in range(count + 1):
        phase = rng.uniform(0, 6, 3)
        base = 0.5 + 0.4 * np.sin(np.stack([x * 9 + phase[0], y * 7 + phase[1], (x + y) * 4 + phase[2]], -1))
        pixels = np.clip(base + 0.05 * rng.standard_normal((size, size, 3)), 0, 1)
        path = folder / (f"photo{index:02d}.png" if index < count else "style.png")
        Image.fromarray((pixels * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths[:-1], paths[-1]


def nst_command() -> list[str]:
    script = Path(sys.executable).with_name("nst")
    return [str(script)] if script.exists() else [shutil.which("nst") or "nst"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(args, backend: str, folder: Path) -> list[dict]:
    photos, style = make_inputs(folder, args.images, args.size)
    common = ["--size", str(args.size), "--iterations", str(args.iterations), "--weights", args.weights]
    common += ["--backend", backend, "--scales", "1"]
    python = [sys.executable, "-c"]
    ways = []

    def record(way: str, seconds: float) -> None:
        per_hour = args.images / seconds * 3600
        ways.append({"way": way, "seconds": round(seconds, 2), "images_per_hour": round(per_hour)})
        print(f"{backend:5s} {way:28s} {seconds:7.1f} s  {per_hour:8.0f} images/hour", flush=True)

    loop = 0.0
    for index, photo in enumerate(photos):
        output = folder / f"loop-{index}.png"
        loop += timed(
            [
                *nst_command(),
                "stylize",
                str(photo),
                str(style),
                "-o",
                str(output),
                *common,
                "--device",
                args.device,
            ]
        )
    record("shell loop of nst stylize", loop)

    singles = (
        "import sys, nst\n"
        f"photos, style, out = {[str(p) for p in photos]!r}, {str(style)!r}, {str(folder)!r}\n"
        f"options = dict(size={args.size}, iterations={args.iterations}, weights={args.weights!r}, "
        f"scales=1, device={args.device!r})\n"
        "for i, photo in enumerate(photos):\n"
        f"    nst.stylize(photo, style, backend={backend!r}, **options).save(f'{{out}}/single-{{i}}.png')\n"
    )
    record("single runs in one process", timed([*python, singles]))

    batch = [*nst_command(), "batch", *map(str, photos), "-s", str(style), *common]
    record("nst batch, 1 worker", timed([*batch, "-o", str(folder / "batch-1"), "--device", args.device]))
    for size in args.batch_sizes.split(","):
        output = ["-o", str(folder / f"batched-{size}"), "--device", args.device, "--batch-size", size]
        record(f"nst batch, --batch-size {size}", timed([*batch, *output]))
    devices = ",".join([args.device] * args.workers)
    record(
        f"nst batch, {args.workers} worker processes",
        timed([*batch, "-o", str(folder / f"batch-{args.workers}"), "--device", devices]),
    )
    return [{"backend": backend, **way} for way in ways]


def exactness(args, backend: str, folder: Path) -> list[dict]:
    """Per-image final losses of ``--batch-size`` runs against the same images run alone."""
    import nst

    photos, style = make_inputs(folder, args.images, args.size)
    rows = []
    for optimizer in ("lbfgs", "adam"):
        for steps in map(int, args.exact_steps.split(",")):
            losses = {}
            for size in (1, args.images):
                found: dict[str, float] = {}

                def keep(entry, found=found):
                    found[Path(entry["content"]).name] = entry["losses"]["total"]

                nst.batch(
                    [str(p) for p in photos],
                    str(style),
                    folder / f"{backend}-{optimizer}-{steps}-{size}",
                    batch_size=size,
                    backend=backend,
                    weights=args.weights,
                    size=args.size,
                    iterations=steps,
                    scales=1,
                    optimizer=optimizer,
                    device=args.device,
                    on_entry=keep,
                )
                losses[size] = found
            differences = [abs(losses[args.images][n] - alone) / alone for n, alone in losses[1].items()]
            row = {"backend": backend, "optimizer": optimizer, "steps": steps, "images": args.images}
            row |= {"max_relative_difference": max(differences), "losses_alone": losses[1]}
            rows.append(row | {"losses_batched": losses[args.images]})
            print(f"{backend} {optimizer} {steps} steps: largest relative difference {max(differences):.2e}")
    return rows


def write_exactness(report: dict, stem: Path) -> str:
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    settings = report["settings"]
    lines = [
        f"# nst batch: a batch of {settings['images']} against each image alone, {settings['size']} px, "
        f"{settings['weights']}, {report['environment']['cpu']} ({report['date']})",
        "",
        f"Command: `{report['command']}`",
        "",
        "| backend | optimiser | steps | largest relative difference of an image's final loss |",
        "| --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        cells = (row["backend"], row["optimizer"], row["steps"], f"{row['max_relative_difference']:.1e}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def write_report(report: dict, stem: Path) -> str:
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    settings = report["settings"]
    lines = [
        f"# nst batch: {settings['images']} images of {settings['size']} px, {settings['iterations']} "
        f"L-BFGS steps, {settings['weights']}, {report['environment']['cpu']} ({report['date']})",
        "",
        f"Command: `{report['command']}`",
        "",
        "| backend | way | seconds | images per hour | vs shell loop |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        loop = next(
            r for r in report["rows"] if r["backend"] == row["backend"] and r["way"].startswith("shell")
        )
        ratio = row["images_per_hour"] / loop["images_per_hour"]
        cells = (row["backend"], row["way"], row["seconds"], row["images_per_hour"], f"{ratio:.2f}x")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="nst-bench-batch-") as folder:
            rows += (exactness if args.exactness else measure)(args, backend, Path(folder))
    date = datetime.date.today().isoformat()
    report = {
        "date": date,
        "command": "python -m bench.batch " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)} | {"out": str(args.out)},
        "environment": describe_environment(args.device) | {"load_average": os.getloadavg()},
        "rows": rows,
    }
    if args.exactness:
        print(write_exactness(report, args.out / f"batch-exactness-{args.tag}-{date}"))
    else:
        print(write_report(report, args.out / f"batch-{args.tag}-{date}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
