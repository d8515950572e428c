"""A job's settings: JSON with the options of ``nst stylize`` (dashes or underscores), checked
by the CLI's own parser and ``Config``, so a mistake gets the line the CLI would print.

The studio refuses what would name a file on the server (masks, an --init path, a weights
file other than its own), and records each job's settings as a sidecar that ``nst stylize``
replays.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from typing import Any

from nst.errors import NstError
from nst.options.arguments import BACKEND, PRESET
from nst.options.config import Config, config_options
from nst.options.flags import Parser, add_config_flags, add_options, config_from_args, describe_default
from nst.options.kinds import SWITCH

# Options of ``nst stylize`` besides Config's fields that a job's settings may give.
EXTRA_OPTIONS = (PRESET, BACKEND)
INIT_NAMES = ("content", "recolored", "noise", "style")
# Options whose values would be files on the server; the studio takes files as uploads only.
SERVER_FILES = {
    "mask": "--mask names files on the server; the studio does not take masks",
    "style_mask": "--style-mask names files on the server; the studio does not take masks",
    "save_every": "--save-every writes files beside an output; the studio keeps its own snapshots",
}


def studio_print_every(devices: list[str]) -> int:
    """How often a studio run reports, and so can preview, unless its settings say otherwise.
    A CPU step takes a second or so at 256 px, so every step; an accelerator's takes
    milliseconds, and each report reads the image back to the host, so every fifth."""
    return 1 if all(device.startswith("cpu") for device in devices) else 5


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="nst stylize", add_help=False)
    add_options(parser, EXTRA_OPTIONS)
    add_config_flags(parser)
    return parser


_PARSER = _parser()
_SWITCHES = {o.name for o in config_options() if o.kind is SWITCH}
_OPTIONS = {o.name for o in (*config_options(), *EXTRA_OPTIONS)}


def canonical(settings: Any) -> dict[str, Any]:
    """Settings as sent (a dict or its JSON text) with underscore names; values untouched."""
    if isinstance(settings, str):
        try:
            settings = json.loads(settings or "{}")
        except json.JSONDecodeError as error:
            raise NstError(f"settings are not valid JSON: {error}") from None
    if not isinstance(settings, dict):
        raise NstError('settings must be a JSON object of nst stylize\'s options, such as {"size": 512}')
    return {str(key).replace("-", "_"): value for key, value in settings.items() if value is not None}


def to_argv(settings: dict[str, Any]) -> list[str]:
    """Settings (underscore names) as ``nst stylize`` flags: a switch given as true is the bare
    flag, a list is a comma list, anything else its text."""
    argv = []
    for name, value in settings.items():
        flag = f"--{name.replace('_', '-')}"
        if name in _SWITCHES:
            if not isinstance(value, bool):
                raise NstError(f"{flag} is a switch; give true or false, got {value!r}")
            if value:
                argv.append(flag)
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            raise NstError(f"{flag} takes a value or a list, got an object")
        argv.append(f"{flag}={value}")
    return argv


@dataclass(frozen=True)
class JobSettings:
    """A job's checked settings: what its owner gave (underscore names) over the studio's
    defaults, as the job records and replays them, and the Config they make (the device is
    the worker's, set when the job runs)."""

    settings: dict[str, Any]
    config: Config

    @property
    def backend(self) -> str | None:
        return self.settings.get("backend")


def check_settings(
    settings: Any,
    studio_defaults: dict[str, Any],
    backends: list[str],
    devices: list[str],
    continued: bool = False,
) -> JobSettings:
    """``settings`` from a request, checked: the CLI's messages for what the CLI refuses, one
    line for what the studio refuses. ``continued``: the job starts from an earlier one's
    image, which the studio sets as --init itself."""
    given = canonical(settings)
    for name, reason in SERVER_FILES.items():
        if name in given:
            raise NstError(reason)
    init = given.get("init")
    if init is not None and init not in INIT_NAMES:
        raise NstError(
            f"--init takes {', '.join(INIT_NAMES)} in the studio, got {init!r}; "
            "'Continue from here' starts from a job's image"
        )
    if continued and init is not None:
        raise NstError("a continued job starts from the earlier job's image; leave --init out")
    weights = given.get("weights")
    if weights is not None and weights != studio_defaults.get("weights"):
        _check_named_weights(weights)
    backend = given.get("backend")
    if backend is not None and backend not in backends:
        raise NstError(f"unknown backend {backend!r}; choose from {', '.join(backends)}")
    device = given.get("device", "auto")
    if device != "auto" and device not in devices:
        raise NstError(f"--device {device!r} is not served here; choose auto or {', '.join(devices)}")
    merged = {**studio_defaults, **given}
    return JobSettings(merged, build_config(merged))


def build_config(settings: dict[str, Any]) -> Config:
    """The Config of underscore-named settings, through the CLI's parser and checks."""
    unknown = sorted(set(settings) - _OPTIONS)
    if unknown:
        raise NstError(f"unknown option --{unknown[0].replace('_', '-')}")
    args = _PARSER.parse_args(to_argv(settings))
    return config_from_args(args)


def _check_named_weights(weights: Any) -> None:
    from nst.weights import list_sources

    names = ["auto", *(source.name for source in list_sources())]
    if weights not in names:
        raise NstError(f"--weights takes a named source in the studio ({', '.join(names)}), got {weights!r}")


def option_table() -> list[dict[str, Any]]:
    """Every option of ``nst stylize`` for the page's controls: CLI name, default, help,
    choices, and whether it is a switch."""
    rows = []
    for o in config_options():
        if o.name in SERVER_FILES:
            continue
        rows.append(
            {
                "name": o.name.replace("_", "-"),
                "default": describe_default(o.default) if o.default is not None else None,
                "help": o.help,
                "choices": list(INIT_NAMES if o.name == "init" else o.choices or ()),
                "switch": o.name in _SWITCHES,
            }
        )
    return rows


def replay_command(settings: dict[str, Any], style_count: int, init: bool) -> list[str]:
    """``nst stylize`` with the job's inputs under the names the studio serves them and its
    settings, writing result.png."""
    styles = [f"style-{index}.png" for index in range(style_count)]
    flags = to_argv({**settings, **({"init": "init.png"} if init else {})})
    return ["nst", "stylize", "content.png", *styles, "-o", "result.png", *flags]


def sidecar(record: dict[str, Any], version: str) -> dict[str, Any]:
    """The settings JSON a download carries beside the image: the options, the command that
    replays the job, and which upload each input file was."""
    init = record["parent"] is not None
    argv = replay_command(record["settings"], record["styles"], init)
    inputs = {"content.png": record["names"].get("content")}
    for index, name in enumerate(record["names"].get("styles", [])):
        inputs[f"style-{index}.png"] = name
    if init:
        inputs["init.png"] = f"the image of job {record['parent']}"
    return {
        "nst": version,
        "settings": {name.replace("_", "-"): value for name, value in record["settings"].items()},
        "command": shlex.join(argv),
        "argv": argv,
        "inputs": inputs,
        "job": {key: record[key] for key in ("id", "state", "step", "total", "seconds", "device", "error")},
    }
