"""The ``nst`` command. Flags of ``nst stylize`` are generated from ``nst.config.Config``.

Every user mistake ends as one line on stderr and exit code 2; Ctrl-C writes the current
image and exits 130.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from nst.config import PRESETS, Config, make_config
from nst.errors import NstError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump) and exit code 2."""

    def error(self, message):
        raise NstError(message)


def _number(kind):
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
    parse.__name__ = kind.__name__
    return parse


def _numbers(text):
    return tuple(_number(float)(part) for part in text.split(",") if part.strip())


def whole_numbers(text):
    """'300,200' -> (300, 200): argparse's type for step lists (also bench's)."""
    return tuple(_number(int)(part) for part in text.split(",") if part.strip())


def _paths(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _layers(text):
    """'relu1_1,relu2_1:0.5' -> (names, weights or None); a missing weight counts as 1."""
    names, weights = [], []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        names.append(name)
        weights.append(_number(float)(weight) if weight else None)
    if all(w is None for w in weights):
        return tuple(names), None
    return tuple(names), tuple(1.0 if w is None else w for w in weights)


_PARSERS = {"int": _number(int), "float": _number(float), "float | None": _number(float),
            "str": str, "tuple[float, ...] | None": _numbers,
            "tuple[int, ...] | None": whole_numbers,
            "tuple[str, ...] | None": _paths, "tuple[str, ...]": _layers}


def _describe_default(value):
    if value is None:
        return "see above"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field; defaults are None so a preset can fill what was not given."""
    for f in fields(Config):
        meta = f.metadata
        help_text = f"{meta['help']} (default: {_describe_default(f.default)})"
        if f.type == "tuple[str, ...]":
            help_text += "; NAME:WEIGHT sets a layer's weight"
        if f.type == "bool":  # a switch: given means True
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None,
                                action="store_true", help=help_text)
            continue
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None,
                            type=_PARSERS[f.type], choices=meta["choices"],
                            metavar=meta["metavar"] or (None if meta["choices"] else f.name.upper()),
                            help=help_text)


def config_from_args(args) -> Config:
    given = {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name) is not None}
    for layers, weights in (("content_layers", "content_layer_weights"),
                            ("style_layers", "style_layer_weights")):
        if layers in given:
            names, inline = given[layers]
            given[layers] = names
            if inline is not None:
                if weights in given:
                    raise NstError(f"--{layers.replace('_', '-')} has NAME:WEIGHT entries and "
                                   f"--{weights.replace('_', '-')} is given too; use one")
                given[weights] = inline
    return make_config(args.preset, **given)


def _preset_help() -> str:
    lines = ["presets (--preset NAME sets these; your own flags win):"]
    for name, overrides in PRESETS.items():
        settings = ", ".join(f"{k}={_describe_default(v)}" for k, v in overrides.items()) or "the defaults above"
        lines.append(f"  {name}: {settings}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nst", description="Neural style transfer (Gatys, Ecker & Bethge 2016).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    stylize = commands.add_parser(
        "stylize", help="render a content image in the style of one or more style images",
        description="Render CONTENT in the style of STYLE (several styles are blended).",
        epilog=_preset_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    stylize.add_argument("content", metavar="CONTENT", help="the content photo")
    stylize.add_argument("styles", metavar="STYLE", nargs="+", help="one or more style images")
    stylize.add_argument("-o", "--output", required=True, metavar="OUT",
                         help="where to write the result (png, jpg, webp, tif, bmp)")
    _add_backend_flag(stylize)
    stylize.add_argument("--preset", default="default", choices=tuple(PRESETS),
                         help="a named set of settings, listed below (default: default)")
    add_config_flags(stylize)

    demo = commands.add_parser("demo", help="stylize a bundled photo with a generated painting, offline")
    demo.add_argument("-o", "--output", default="nst-demo.png", metavar="OUT",
                      help="where to write the result (default: nst-demo.png)")
    _add_backend_flag(demo)
    demo.add_argument("--device", default="auto", help="device (default: auto)")
    demo.add_argument("--size", type=_number(int), default=256, help="longest side (default: 256)")
    demo.add_argument("--iterations", type=_number(int), default=100,
                      help="L-BFGS iterations (default: 100)")

    weights = commands.add_parser("weights", help="list or convert network weights")
    weight_commands = weights.add_subparsers(dest="weights_command", required=True, parser_class=_Parser)
    weight_commands.add_parser("list", help="known weight sources, and which are available here")
    convert = weight_commands.add_parser(
        "convert", help="convert weights to .safetensors/.npz (canonical) or .msgpack (Flax)")
    convert.add_argument("source", metavar="SRC", help="a weight name (vgg16-offline, ...) or file")
    convert.add_argument("-o", "--output", required=True, metavar="DST")

    commands.add_parser("info", help="installed backends, devices and versions")
    layers = commands.add_parser("layers", help="the layer names a network offers")
    layers.add_argument("--arch", default="vgg19", choices=("vgg16", "vgg19"))
    return parser


def _add_backend_flag(parser):
    parser.add_argument("--backend", default=None,
                        help="torch or jax (default: $NST_BACKEND, else torch)")


def main(argv=None) -> int:
    from nst import commands

    try:
        args = build_parser().parse_args(argv)
        handler = {"stylize": commands.stylize, "demo": commands.demo, "weights": commands.weights,
                   "info": commands.info, "layers": commands.layers}[args.command]
        return handler(args)
    except NstError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
