"""Options on the command line: argparse arguments from their declarations, and a ``Config``
from the parsed flags."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from nst.errors import NstError
from nst.options.config import PRESETS, Config, config_options, make_config
from nst.options.option import Option


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump), which the ``nst``
    command prints and exits with ``EXIT_USAGE`` on."""

    def error(self, message):
        raise NstError(message)


def describe_default(value) -> str:
    if value is None:
        return "see above"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """One argument per option of a command; its help ends with the default, when it has one."""
    for o in options:
        shown = o.shown_default() if callable(o.shown_default) else o.shown_default
        if shown is None and o.default is not None and o.kind.parse is not None:
            shown = describe_default(o.default)
        help_text = f"{o.help} (default: {shown})" if shown is not None else o.help
        _add(parser, o, o.default, help_text or None, checked=True)


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per Config field, but those in ``skip`` (a command that defines or does not
    take them); defaults are None so a preset can fill what was not given, and ``Config``
    checks the values."""
    for o in config_options():
        if o.name in skip:
            continue
        help_text = f"{o.help} (default: {describe_default(o.default)})"
        if o.kind.hint:
            help_text += f"; {o.kind.hint}"
        _add(parser, o, None, help_text, checked=False)


def _add(parser: argparse.ArgumentParser, o: Option, default: Any, help_text: str | None, checked: bool):
    if o.positional:
        parser.add_argument(o.flags[0], metavar=o.metavar, nargs=o.nargs, help=help_text)
        return
    names = o.flags or (o.flag,)
    if o.kind.parse is None:  # a switch: given means True
        parser.add_argument(*names, dest=o.name, default=default, action="store_true", help=help_text)
        return
    parse = o.kind.parse
    if checked and o.check is not None:
        parse = _checking(o)
    parser.add_argument(
        *names,
        dest=o.name,
        default=default,
        type=parse,
        choices=o.choices,
        metavar=o.metavar or (None if o.choices else o.name.upper()),
        nargs=o.nargs,
        required=o.required,
        action="append" if o.repeated else "store",
        help=help_text,
    )


def _checking(o: Option):
    """The option's parse, then its check, whose refusal is the line the library would give."""
    parse_text = o.kind.parse
    assert parse_text is not None

    def parse(text: str):
        value = parse_text(text)
        o.check_range(value)
        return value

    parse.__name__ = parse_text.__name__
    return parse


def config_from_args(args: argparse.Namespace) -> Config:
    given = {o.name: value for o in config_options() if (value := getattr(args, o.name, None)) is not None}
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
