"""``nst batch``: its parser (its flags are declared in ``nst.options``), a progress bar over
the images, and the exit code.

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
from nst.batching.jobs import expand_inputs
from nst.errors import EXIT_SOME_FAILED, NstError
from nst.options.arguments import BATCH, NOT_IN_BATCH
from nst.options.flags import add_config_flags, add_options, config_from_args, preset_help


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
    add_options(parser, BATCH)
    add_config_flags(parser, skip=NOT_IN_BATCH)


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


def _log(message: str) -> None:
    print(f"nst: {message}", file=sys.stderr)
