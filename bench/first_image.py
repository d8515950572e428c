"""`python -m bench.first_image`: seconds from starting `nst stylize` to its image written.

Per backend, `nst stylize` on nst's demo pair runs twice, each in a fresh process: cold, with
an empty JAX compilation cache and an empty nst cache folder, then warm, with what the cold run
left there. The wall time is taken around the whole process, so Python's start, the imports,
the weights, JAX's compilation (or its loading from the cache) and every step are in it.
JAX keeps only compilations longer than a second, so on small problems the warm run may find
nothing to load. A run that fails is recorded with its exit code and last stderr line, and the
bench exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.cell import DEMO_IMAGES
from bench.environment import describe_environment

RUNS = ("cold", "warm")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.first_image",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backends", default="torch,jax", help="comma list (default: torch,jax)")
    parser.add_argument("--size", type=int, default=512, help="longest side in px (default: 512)")
    parser.add_argument("--iterations", type=int, default=500, help="steps (default: 500)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or tpu (default: cpu)")
    parser.add_argument(
        "--weights", default="vgg16-offline", help="a weight name or file (default: vgg16-offline)"
    )
    parser.add_argument(
        "--extra",
        default="",
        help="more `nst stylize` options, one quoted string (e.g. '--content-layers relu2_1')",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--name", help="file stem (default: first-image-<device>-<date>)")
    return parser.parse_args(argv)


def write_demo_pair(folder: Path) -> tuple[Path, Path]:
    from nst import image as img
    from nst.demo import demo_content, demo_style

    content, style = folder / "content.png", folder / "style.png"
    img.save_image(demo_content(), content)
    img.save_image(demo_style(), style)
    return content, style


def stylize_command(args, backend: str, content: Path, style: Path, output: Path) -> list[str]:
    # nst.cli as a module: the same entry point as the `nst` script, run by this interpreter.
    command = [sys.executable, "-m", "nst.cli", "stylize", str(content), str(style), "-o", str(output)]
    command += ["--backend", backend, "--size", str(args.size), "--iterations", str(args.iterations)]
    command += ["--scales", "1", "--device", args.device, "--weights", args.weights]
    return command + shlex.split(args.extra)


def timed_run(command: list[str], caches: Path, output: Path) -> dict:
    """One `nst stylize` process with its caches in ``caches``: seconds, exit code, and the
    files the caches hold afterwards (whether the warm run had anything to load)."""
    env = os.environ | {
        "JAX_COMPILATION_CACHE_DIR": str(caches / "jax"),
        "NST_CACHE_DIR": str(caches / "nst"),
    }
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    run = {
        "seconds": seconds,
        "exit_code": done.returncode,
        "cache_files": sum(1 for path in caches.rglob("*") if path.is_file()),
    }
    if done.returncode != 0 or not output.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        run["error"] = lines[-1] if lines else f"exit code {done.returncode}, no image written"
    return run


def measure(args, backend: str, folder: Path) -> dict[str, dict]:
    content, style = write_demo_pair(folder)
    caches = folder / "caches"  # empty for the cold run, as it left them for the warm one
    runs = {}
    for run in RUNS:
        output = folder / f"{backend}-{run}.png"
        runs[run] = timed_run(stylize_command(args, backend, content, style, output), caches, output)
        outcome = runs[run].get("error", "image written")
        print(f"{backend:5s} {run}: {runs[run]['seconds']:7.1f} s ({outcome})", flush=True)
    return runs


def write_markdown(report: dict, path: Path) -> None:
    env, settings = report["environment"], report["settings"]
    lines = [
        f"# Time to the first image: nst stylize, {settings['size']} px, {settings['iterations']} steps, "
        f"{settings['weights']}",
        "",
        f"`{report['command']}` on {env.get('gpu') or env['cpu']} ({settings['device']}), {report['date']}.",
        "",
        "Seconds from starting a fresh `nst stylize` process to its image written. Cold: empty JAX "
        "compilation cache and nst cache folder; warm: the same command again with what the cold "
        f"run left there. Content: {report['images']['content']}; style: {report['images']['style']}.",
        "",
        "| backend | cold s | warm s | exit codes (cold, warm) |",
        "| --- | --- | --- | --- |",
    ]
    for backend, runs in report["backends"].items():
        cold, warm = runs["cold"], runs["warm"]
        lines.append(
            f"| {backend} | {cold['seconds']:.1f} | {warm['seconds']:.1f} | "
            f"{cold['exit_code']}, {warm['exit_code']} |"
        )
    failed = [
        f"- {backend} {run}: {result['error']}"
        for backend, runs in report["backends"].items()
        for run, result in runs.items()
        if "error" in result
    ]
    if failed:
        lines += ["", "## Failed runs", "", *failed]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    backends = [backend for backend in args.backends.split(",") if backend]
    report = {
        "command": "python -m bench.first_image " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": date.today().isoformat(),
        "settings": {
            key: getattr(args, key)
            for key in ("backends", "size", "iterations", "device", "weights", "extra")
        },
        "images": dict(DEMO_IMAGES),
        "backends": {},
    }
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="nst-bench-first-image-") as folder:
            report["backends"][backend] = measure(args, backend, Path(folder))
    # After the runs: describing a GPU opens a CUDA context in this process, which would take
    # memory from the measured ones.
    report["environment"] = describe_environment(args.device)
    stem = args.name or f"first-image-{args.device.split(':')[0]}-{report['date']}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    write_markdown(report, args.out / f"{stem}.md")
    print(f"wrote {args.out / stem}.json and .md")
    failed = any("error" in run for runs in report["backends"].values() for run in runs.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
