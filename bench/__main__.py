"""`python -m bench`: run the matrix, one fresh process per cell, and write JSON, Markdown, PNG.

Each cell ends ok, unavailable (this machine lacks its framework or device) or failed (it
crashed; the report keeps its last error lines). Exit code 1 when any cell failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench.cell import describe_weights, image_sources
from bench.environment import describe_environment
from bench.report import add_comparisons, write_markdown, write_plot
from nst.arch import ARCHS
from nst.backend import REGISTRY
from nst.devices import DEVICE_NAME
from nst.options.config import config_option
from nst.options.kinds import whole_numbers

FULL = {
    "backends": "baseline,torch,jax",
    "sizes": "256,512",
    "optimizers": "lbfgs,adam",
    "precisions": "fp32,tf32,bf16",
    "networks": "vgg19-random",
    "steps": 60,
    "chunk": 10,
}
# What each list may name: the tutorial loop and nst's backends, optimisers and precisions.
CHOICES = {
    "backends": ("baseline", *REGISTRY),
    "optimizers": config_option("optimizer").choices,
    "precisions": config_option("precision").choices,
}
QUICK = {
    "backends": "baseline,torch,jax",
    "sizes": "96",
    "optimizers": "lbfgs,adam",
    "precisions": "fp32",
    "networks": "vgg16-random",
    "steps": 12,
    "chunk": 4,
}
ERROR_LINES = 8  # of a failed cell's stderr, kept in the report: the traceback's last frames


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small matrix (CI: under 2 min on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or tpu (default: cpu)")
    parser.add_argument("--name", help="file stem (default: <device>-<date>)")
    parser.add_argument(
        "--notes",
        help="text written into the report (JSON and Markdown): how it was run, what to read it with",
    )
    for key in FULL:
        kind = "a whole number" if key in ("steps", "chunk") else "comma list"
        parser.add_argument(f"--{key}", default=None, help=f"{kind} (full default: {FULL[key]})")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    check_args(parser, args)
    return args


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Refuse a matrix that names what no cell can run, before any cell runs (exit 2)."""
    for key, allowed in CHOICES.items():
        unknown = [part for part in split(getattr(args, key)) if part not in allowed]
        if unknown:
            parser.error(f"--{key}: unknown {unknown[0]!r}; choose from {', '.join(allowed)}")
    known = network_choices()
    unknown = [part for part in split(args.networks) if part not in known and not Path(part).is_file()]
    if unknown:
        parser.error(f"--networks: unknown {unknown[0]!r}; choose from {', '.join(known)} or a weights file")
    # The numbers are parsed here, once: sizes become a tuple, steps and chunk one number each.
    for key, single in (("sizes", False), ("steps", True), ("chunk", True)):
        text = str(getattr(args, key))
        try:
            counts = whole_numbers(text)
        except argparse.ArgumentTypeError as error:
            parser.error(f"--{key}: {error}")
        if not counts or min(counts) < 1 or (single and len(counts) != 1):
            parser.error(
                f"--{key} must be {'a whole number' if single else 'whole numbers'} of at least 1, got {text}"
            )
        setattr(args, key, counts[0] if single else counts)
    if args.device != "auto" and not DEVICE_NAME.fullmatch(args.device):
        parser.error(f"unknown device {args.device!r}; use auto, cpu, cuda, cuda:N, gpu or tpu")


def network_choices() -> list[str]:
    """Random weights of each VGG (speed does not depend on the values) and nst's weight sources."""
    from nst.weights import list_sources

    return [f"{arch}-random" for arch in ARCHS] + [source.name for source in list_sources()]


def split(text) -> list[str]:
    return [part for part in str(text).split(",") if part]


def cells(args):
    for network, size, optimizer, precision, backend in itertools.product(
        split(args.networks), args.sizes, split(args.optimizers), split(args.precisions), split(args.backends)
    ):
        if backend == "baseline" and precision != "fp32":
            continue  # the tutorial loop is fp32 only
        if precision == "tf32" and args.device == "cpu":
            continue  # TF32 exists on NVIDIA GPUs only
        yield {
            "backend": backend,
            "size": size,
            "optimizer": optimizer,
            "precision": precision,
            "network": network,
            "device": args.device,
            "steps": args.steps,
            "chunk": args.chunk,
            "seed": 0,
        }


def run_cell(cell: dict) -> dict:
    """A fresh interpreter per cell: no compile cache, allocator or thread pool carried over.
    Every result names the images and weights the cell was given, whatever its status."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.cell", json.dumps(cell)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    inputs = {"images": image_sources(), "weights": describe_weights(cell["network"])}
    result = _parse_result(done.stdout) if done.returncode == 0 else None
    if result is not None:
        return {**inputs, **result}
    # Python's ^^^ markers under a traceback's lines say nothing once the columns are gone.
    error = [line for line in done.stderr.splitlines() if line.strip(" ^~")][-ERROR_LINES:]
    if done.returncode < 0:  # no traceback: the kernel's OOM killer, a segfault
        error.append(f"killed by signal {-done.returncode}")
    elif done.returncode == 0:
        error.append("the cell printed no JSON result")
    return {**cell, **inputs, "status": "failed", "error": error or [f"exit code {done.returncode}"]}


def _parse_result(stdout: str) -> dict | None:
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def describe(label: str, result: dict) -> str:
    """The console line of a finished cell."""
    if result["status"] == "unavailable":
        return f"unavailable {label}: {result['reason']}"
    if result["status"] == "failed":
        return f"FAILED {label}: {result['error'][-1]}"
    emulated = " (bf16 emulated: this CPU has no bf16 hardware)" if result["bf16_emulated"] else ""
    evaluations = result["evaluations_per_step"]
    peak = result["peak_fraction"]
    return (
        f"{label}: {result['step_seconds_median'] * 1e3:.1f} ms/step"
        + ("" if evaluations is None else f", {evaluations:.2f} evaluations/step")
        + f", {result['achieved_tflops']:.2f} TFLOP/s"
        + ("" if peak is None else f" ({peak:.1%} of peak)")
        + emulated
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"{args.device}-{date.today().isoformat()}"
    started = time.perf_counter()
    results = []
    partial = args.out / f"{stem}.partial.json"
    for cell in cells(args):
        label = (
            f"{cell['backend']:8} {cell['network']} {cell['size']}px {cell['optimizer']} {cell['precision']}"
        )
        result = run_cell(cell)
        results.append(result)
        print(describe(label, result), flush=True)
        # A run cut short (a time limit, Ctrl-C) keeps the cells it finished.
        partial.write_text(json.dumps({"cells": results}, indent=1))
    add_comparisons(results)
    report = {
        "environment": describe_environment(args.device),
        "quick": args.quick,
        "wall_seconds": time.perf_counter() - started,
        **({"notes": args.notes} if args.notes else {}),
        "cells": results,
    }
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    write_markdown(report, args.out / f"{stem}.md")
    write_plot(report, args.out / f"{stem}.png")
    partial.unlink()
    counts = {
        status: sum(c["status"] == status for c in results) for status in ("ok", "unavailable", "failed")
    }
    print(
        f"wrote {args.out / stem}.json, .md, .png ({report['wall_seconds']:.0f} s); "
        + ", ".join(f"{count} {status}" for status, count in counts.items())
    )
    if counts["failed"]:
        print(
            f"python -m bench: {counts['failed']} cell(s) failed; their errors are in {args.out / stem}.md",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
