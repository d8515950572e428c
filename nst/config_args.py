"""``Config`` on the command line: one flag per field, and a ``Config`` from the parsed flags.

Exit codes live here too, for the ``nst`` command's handlers and its entry point alike.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from nst.config import PRESETS, Config, make_config
from nst.errors import NstError
from nst.option_kinds import LAYERS

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def describe_default(value) -> str:
    if value is None:
        return "see above"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per Config field, but those in ``skip`` (a command that defines or does not
    take them); defaults are None so a preset can fill what was not given."""
    for f in fields(Config):
        if f.name in skip:
            continue
        meta = f.metadata
        kind = meta["kind"]
        flag = f"--{f.name.replace('_', '-')}"
        help_text = f"{meta['help']} (default: {describe_default(f.default)})"
        if kind is LAYERS:
            help_text += "; NAME:WEIGHT sets a layer's weight"
        if kind.parse is None:  # a switch: given means True
            parser.add_argument(flag, dest=f.name, default=None, action="store_true", help=help_text)
            continue
        parser.add_argument(
            flag,
            dest=f.name,
            default=None,
            type=kind.parse,
            choices=meta["choices"],
            metavar=meta["metavar"] or (None if meta["choices"] else f.name.upper()),
            help=help_text,
        )


def config_from_args(args: argparse.Namespace) -> Config:
    given = {f.name: value for f in fields(Config) if (value := getattr(args, f.name, None)) is not None}
    for layers, weights in (
        ("content_layers", "content_layer_weights"),
        ("style_layers", "style_layer_weights"),
    ):
        if layers in given:
            names, inline = given[layers]
            given[layers] = names
            if inline is not None:
                if weights in given:
                    raise NstError(
                        f"--{layers.replace('_', '-')} has NAME:WEIGHT entries and "
                        f"--{weights.replace('_', '-')} is given too; use one"
                    )
                given[weights] = inline
    return make_config(args.preset, **given)


def preset_help() -> str:
    lines = ["presets (--preset NAME sets these; your own flags win):"]
    for name, overrides in PRESETS.items():
        settings = (
            ", ".join(f"{k}={describe_default(v)}" for k, v in overrides.items()) or "the defaults above"
        )
        lines.append(f"  {name}: {settings}")
    return "\n".join(lines)
