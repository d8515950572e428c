"""The ``nst`` command: its parser and entry point. Every command's flags are generated from
their declarations in ``nst.options``; ``nst.commands`` does the work.

Every user mistake ends as one line on stderr and exit code 2; Ctrl-C writes the current
image and exits 130.
"""

from __future__ import annotations

import argparse
import sys

from nst import commands
from nst.batching import command as batch_command
from nst.errors import EXIT_INTERRUPTED, EXIT_USAGE, NstError
from nst.options import arguments
from nst.options.flags import Parser, add_config_flags, add_options, preset_help
from nst.serve import command as serve_command


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="nst", description="Neural style transfer (Gatys, Ecker & Bethge 2016).")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    stylize = subcommands.add_parser(
        "stylize",
        help="render a content image in the style of one or more style images",
        description="Render CONTENT in the style of STYLE (several styles are blended).",
        epilog=preset_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(stylize, arguments.STYLIZE)
    add_config_flags(stylize)

    video = subcommands.add_parser(
        "video",
        help="stylize a video (or a folder of frames) without flicker (Ruder et al. 2016)",
        description="Stylize the clip IN after STYLE, frame by frame, each frame tied to the last.",
        epilog=preset_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(video, arguments.VIDEO)
    add_config_flags(video)

    demo = subcommands.add_parser("demo", help="stylize a bundled photo with a generated painting, offline")
    add_options(demo, arguments.DEMO)

    weights = subcommands.add_parser("weights", help="list or convert network weights")
    weight_subcommands = weights.add_subparsers(dest="weights_command", required=True, parser_class=Parser)
    weight_subcommands.add_parser("list", help="known weight sources, and which are available here")
    convert = weight_subcommands.add_parser(
        "convert", help="convert weights to .safetensors/.npz (canonical) or .msgpack (Flax)"
    )
    add_options(convert, arguments.WEIGHTS_CONVERT)

    batch_command.add_parser(subcommands)
    serve_command.add_parser(subcommands)
    subcommands.add_parser("info", help="installed backends, devices and versions")
    layers = subcommands.add_parser("layers", help="the layer names a network offers")
    add_options(layers, arguments.LAYERS)
    return parser


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
