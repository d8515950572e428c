"""The ``nst`` command: its parser and entry point. Flags of ``nst stylize`` are generated from
``nst.config.Config`` (``nst.config_args``); ``nst.commands`` does the work.

Every user mistake ends as one line on stderr and exit code 2; Ctrl-C writes the current
image and exits 130.
"""

from __future__ import annotations

import argparse
import sys

from nst import commands
from nst.batching import command as batch_command
from nst.config import PRESETS
from nst.config_args import EXIT_INTERRUPTED, EXIT_USAGE, add_config_flags, preset_help
from nst.errors import NstError
from nst.option_kinds import number
from nst.serve import command as serve_command


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump) and exit code 2."""

    def error(self, message):
        raise NstError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nst", description="Neural style transfer (Gatys, Ecker & Bethge 2016).")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    stylize = subcommands.add_parser(
        "stylize",
        help="render a content image in the style of one or more style images",
        description="Render CONTENT in the style of STYLE (several styles are blended).",
        epilog=preset_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stylize.add_argument("content", metavar="CONTENT", help="the content photo")
    stylize.add_argument("styles", metavar="STYLE", nargs="+", help="one or more style images")
    stylize.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write the result (png, jpg, webp, tif, bmp); required unless --plan",
    )
    _add_backend_flag(stylize)
    stylize.add_argument(
        "--preset",
        default="default",
        choices=tuple(PRESETS),
        help="a named set of settings, listed below (default: default)",
    )
    stylize.add_argument(
        "--plan",
        action="store_true",
        help="print the run's plan (scales, steps, tiles, memory, time) and exit without running",
    )
    add_config_flags(stylize)

    _add_video_parser(subcommands)

    demo = subcommands.add_parser("demo", help="stylize a bundled photo with a generated painting, offline")
    demo.add_argument(
        "-o",
        "--output",
        default="nst-demo.png",
        metavar="OUT",
        help="where to write the result (default: nst-demo.png)",
    )
    _add_backend_flag(demo)
    demo.add_argument("--device", default="auto", help="device (default: auto)")
    demo.add_argument("--size", type=number(int), default=256, help="longest side (default: 256)")
    demo.add_argument("--iterations", type=number(int), default=100, help="L-BFGS iterations (default: 100)")

    weights = subcommands.add_parser("weights", help="list or convert network weights")
    weight_subcommands = weights.add_subparsers(dest="weights_command", required=True, parser_class=_Parser)
    weight_subcommands.add_parser("list", help="known weight sources, and which are available here")
    convert = weight_subcommands.add_parser(
        "convert", help="convert weights to .safetensors/.npz (canonical) or .msgpack (Flax)"
    )
    convert.add_argument("source", metavar="SRC", help="a weight name (vgg16-offline, ...) or file")
    convert.add_argument("-o", "--output", required=True, metavar="DST")

    batch_command.add_parser(subcommands)
    serve_command.add_parser(subcommands)
    subcommands.add_parser("info", help="installed backends, devices and versions")
    layers = subcommands.add_parser("layers", help="the layer names a network offers")
    layers.add_argument("--arch", default="vgg19", choices=("vgg16", "vgg19"))
    return parser


def _add_video_parser(subcommands) -> None:
    video = subcommands.add_parser(
        "video",
        help="stylize a video (or a folder of frames) without flicker (Ruder et al. 2016)",
        description="Stylize the clip IN after STYLE, frame by frame, each frame tied to the last.",
        epilog=preset_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    video.add_argument("input", metavar="IN", help="a video file, a folder of frames, or a glob of frames")
    video.add_argument("styles", metavar="STYLE", nargs="+", help="one or more style images")
    video.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="an .mp4 file, or a folder for PNG frames"
    )
    _add_backend_flag(video)
    video.add_argument("--preset", default="default", choices=tuple(PRESETS), help="as for stylize")
    video.add_argument("--max-frames", type=number(int), default=None, help="stylize at most N frames")
    video.add_argument("--start", type=number(float), default=0.0, help="first second of IN (default: 0)")
    video.add_argument("--end", type=number(float), default=None, help="stop at this second of IN")
    video.add_argument(
        "--temporal-weight",
        type=number(float),
        default=None,
        help="weight of the temporal loss; 0: independent frames (default: see docs/video.md)",
    )
    video.add_argument(
        "--frame-iterations",
        type=number(int),
        default=None,
        help="steps of each frame after the first, which starts from the last (default: see docs/video.md)",
    )
    add_config_flags(video)


def _add_backend_flag(parser):
    parser.add_argument("--backend", default=None, help="torch or jax (default: $NST_BACKEND, else torch)")


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handler = {
            "stylize": commands.stylize,
            "video": commands.video,
            "demo": commands.demo,
            "batch": batch_command.run,
            "serve": serve_command.run,
            "weights": commands.weights,
            "info": commands.info,
            "layers": commands.layers,
        }[args.command]
        if getattr(args, "plan", False):  # --plan: print what the command would run, run nothing
            handler = {"stylize": commands.plan_stylize, "batch": batch_command.print_plans}[args.command]
        return handler(args)
    except NstError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
