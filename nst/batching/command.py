"""``nst batch``: its flags, a progress bar over the images, and the exit code.

Exit 0 when every job succeeded (or was done already), 1 when some failed (each is listed,
and recorded in the manifest), 2 for a usage error before anything ran.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from nst import image as img
from nst.batching import batch
from nst.batching.jobs import PAIRINGS, expand_inputs
from nst.config import PRESETS
from nst.config_args import add_config_flags, config_from_args, preset_help
from nst.errors import NstError
from nst.option_kinds import number

EXIT_SOME_FAILED = 1


def add_parser(subcommands) -> None:
    parser = subcommands.add_parser(
        "batch",
        help="stylize many images: contents crossed with styles, resumable, on every device",
        description=(
            "Render every CONTENT (files, folders, globs) in every --style into the folder -o as "
            "CONTENT--STYLE.png, with a manifest.jsonl there. Outputs done with the same inputs "
            "and settings are skipped; exit code 1 when some image failed."
        ),
        epilog=preset_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("contents", metavar="CONTENT", nargs="+", help="content images, folders or globs")
    parser.add_argument(
        "-s",
        "--style",
        dest="batch_styles",
        action="append",
        required=True,
        metavar="STYLE",
        help="a style image, folder or glob (repeat for more styles)",
    )
    parser.add_argument("-o", "--output", metavar="DIR", help="the output folder (required unless --plan)")
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print the plan of each content image's run (scales, steps, tiles, memory, time) and exit",
    )
    parser.add_argument(
        "--pairs",
        default="all",
        choices=PAIRINGS,
        help="all: every content in every style; zip: the i-th content in the i-th style (default: all)",
    )
    parser.add_argument(
        "--format", default="png", help="output format: png, jpg, webp, tif, bmp (default: png)"
    )
    parser.add_argument("--overwrite", action="store_true", help="redo outputs that are done already")
    parser.add_argument(
        "--batch-size",
        type=batch_size,
        default=1,
        metavar="N",
        help="optimise up to N images of one shape together, each exactly as on its own (one "
        "scale only); auto: what fits the device's memory, 1 on the CPU (default: 1)",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run on a Ray cluster: auto ($RAY_ADDRESS, a local `ray start`, else a new local "
        "instance) or HOST:PORT; one worker per GPU, or per CPU without GPUs",
    )
    parser.add_argument(
        "--ray-return",
        action="store_true",
        help="the output folder is not shared with the Ray workers: send them the inputs and "
        "write their results here",
    )
    parser.add_argument(
        "--retries",
        type=number(int),
        default=2,
        help="with --ray, times a job whose worker died is retried elsewhere (default: 2)",
    )
    parser.add_argument("--backend", default=None, help="torch or jax (default: $NST_BACKEND, else torch)")
    parser.add_argument(
        "--preset",
        default="default",
        choices=tuple(PRESETS),
        help="a named set of settings, listed below (default: default)",
    )
    parser.add_argument(
        "--device",
        dest="device",
        default=None,
        help="auto, cpu, cuda:N, ...; all: one worker process per accelerator here; a comma "
        "list (cuda:0,cuda:1 or cpu,cpu): one worker process each (default: auto)",
    )
    add_config_flags(parser, skip=("device", "save_every"))


def run(args) -> int:
    from tqdm import tqdm

    cfg = config_from_args(args)
    if args.output is None:
        raise NstError("the following arguments are required: -o/--output")
    options = {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}
    bar = None

    def on_start(to_run: int, skipped: int, where: str) -> None:
        nonlocal bar
        done_already = f"; {skipped} done already (--overwrite redoes them)" if skipped else ""
        _log(f"{to_run} image(s) to render on {where}{done_already}")
        bar = tqdm(total=to_run, unit="image", file=sys.stderr, dynamic_ncols=True)

    def on_entry(entry: dict) -> None:
        if bar is not None:
            bar.update(1)
            if entry["error"] is not None:
                bar.set_postfix_str(f"{len(failed) + 1} failed")
        if entry["error"] is not None:
            failed.append(entry)

    failed: list[dict] = []
    try:
        report = batch(
            args.contents,
            args.batch_styles,
            args.output,
            pairs=args.pairs,
            format=args.format,
            overwrite=args.overwrite,
            batch_size=args.batch_size,
            ray=args.ray,
            ray_return=args.ray_return,
            retries=args.retries,
            backend=args.backend,
            on_start=on_start,
            on_entry=on_entry,
            **options,
        )
    finally:
        if bar is not None:
            bar.close()
    for entry in report.failed:
        _log(f"failed: {Path(entry['output']).name}: {entry['error']}")
    print(
        f"{report.succeeded} written, {report.skipped} done already, {len(report.failed)} failed; "
        f"manifest: {report.manifest}"
    )
    return EXIT_SOME_FAILED if report.failed else 0


def print_plans(args) -> int:
    """``--plan``: one plan per content image size; the runs of a batch differ only by their shapes."""
    from nst.commands import print_plan
    from nst.stylize import StyleTransfer

    cfg = config_from_args(args)
    contents = expand_inputs([str(c) for c in args.contents], "content")
    styles = expand_inputs([str(s) for s in args.batch_styles], "style")
    shapes: dict[tuple[int, int], int] = {}
    for path in contents:
        shape = img.load_image(path).shape[:2]
        shapes[shape] = shapes.get(shape, 0) + 1
    per_content = len(styles) if args.pairs == "all" else 1
    transfer = StyleTransfer(replace(cfg, device="auto" if cfg.device == "all" else cfg.device), args.backend)
    for (height, width), count in shapes.items():
        print(f"{count * per_content} image(s) from {count} content image(s) of {width}x{height} px, each:")
        print_plan(transfer.plan_for((height, width), cfg.loss_spec(1)))
    return 0


def batch_size(text: str) -> int | str:
    return text if text == "auto" else number(int)(text)


def _log(message: str) -> None:
    print(f"nst: {message}", file=sys.stderr)
