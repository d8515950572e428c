"""The options of each ``nst`` command besides ``Config``'s (``nst.options.config``): its
inputs, its output, and the settings of the command itself (a batch's pairing, a server's
port). ``nst.cli`` and the commands' parsers add them with ``nst.options.flags.add_options``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nst.batching.jobs import PAIRINGS
from nst.options.checks import PORT
from nst.options.config import PRESETS
from nst.options.kinds import AUTO_OR_INT, FLOAT, INT, SWITCH, TEXT
from nst.options.option import Option


def studio_data_dir() -> Path:
    """The user's data folder: $XDG_DATA_HOME (or ~/.local/share), ~/Library/Application
    Support on macOS, %LOCALAPPDATA% on Windows; then nst/studio."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "nst" / "studio"


BACKEND = Option(
    "backend",
    TEXT,
    help="torch or jax",
    shown_default="$NST_BACKEND, else torch",
    brief="`torch` or `jax`",
    brief_default="`$NST_BACKEND`, else `torch`",
)
PRESET = Option(
    "preset",
    TEXT,
    "default",
    "a named set of settings, listed below",
    choices=tuple(PRESETS),
    brief="`gatys2016`: the paper's settings; `mse`: Gram MSE, β 1e6, from the photo",
)
STYLES = Option(
    "styles", TEXT, help="one or more style images", flags=("styles",), metavar="STYLE", nargs="+"
)

# Before Config's options, in this order, in ``nst stylize --help`` and the README's table.
STYLIZE = (
    Option("content", TEXT, help="the content photo", flags=("content",), metavar="CONTENT"),
    STYLES,
    Option(
        "output",
        TEXT,
        help="where to write the result (png, jpg, webp, tif, bmp); required unless --plan",
        flags=("-o", "--output"),
        metavar="OUT",
    ),
    BACKEND,
    PRESET,
    Option(
        "plan",
        SWITCH,
        False,
        "print the run's plan (scales, steps, tiles, memory, time) and exit without running",
    ),
)

VIDEO = (
    Option(
        "input",
        TEXT,
        help="a video file, a folder of frames, or a glob of frames",
        flags=("input",),
        metavar="IN",
    ),
    STYLES,
    Option(
        "output",
        TEXT,
        help="an .mp4 file, or a folder for PNG frames",
        flags=("-o", "--output"),
        metavar="OUT",
        required=True,
    ),
    BACKEND,
    PRESET,
    Option("max_frames", INT, help="stylize at most N frames"),
    Option("start", FLOAT, 0.0, "first second of IN", shown_default="0"),
    Option("end", FLOAT, help="stop at this second of IN"),
    Option(
        "temporal_weight",
        FLOAT,
        help="weight of the temporal loss; 0: independent frames",
        shown_default="see docs/video.md",
    ),
    Option(
        "frame_iterations",
        INT,
        help="steps of each frame after the first, which starts from the last",
        shown_default="see docs/video.md",
    ),
)

DEMO = (
    Option(
        "output", TEXT, "nst-demo.png", "where to write the result", flags=("-o", "--output"), metavar="OUT"
    ),
    BACKEND,
    Option("device", TEXT, "auto", "device"),
    Option("size", INT, 256, "longest side"),
    Option("iterations", INT, 100, "L-BFGS iterations"),
)

BATCH = (
    Option(
        "contents",
        TEXT,
        help="content images, folders or globs",
        flags=("contents",),
        metavar="CONTENT",
        nargs="+",
    ),
    Option(
        "batch_styles",
        TEXT,
        help="a style image, folder or glob (repeat for more styles)",
        flags=("-s", "--style"),
        metavar="STYLE",
        required=True,
        repeated=True,
    ),
    Option(
        "output",
        TEXT,
        help="the output folder (required unless --plan)",
        flags=("-o", "--output"),
        metavar="DIR",
    ),
    Option(
        "plan",
        SWITCH,
        False,
        "print the plan of each content image's run (scales, steps, tiles, memory, time) and exit",
    ),
    Option(
        "pairs",
        TEXT,
        "all",
        "all: every content in every style; zip: the i-th content in the i-th style",
        choices=PAIRINGS,
    ),
    Option("format", TEXT, "png", "output format: png, jpg, webp, tif, bmp"),
    Option("overwrite", SWITCH, False, "redo outputs that are done already"),
    Option(
        "batch_size",
        AUTO_OR_INT,
        1,
        "optimise up to N images of one shape together, each exactly as on its own (one "
        "scale only); auto: what fits the device's memory, 1 on the CPU",
        metavar="N",
    ),
    Option(
        "ray",
        TEXT,
        help="run on a Ray cluster: auto ($RAY_ADDRESS, a local `ray start`, else a new local "
        "instance) or HOST:PORT; one worker per GPU, or per CPU without GPUs",
        metavar="ADDRESS",
    ),
    Option(
        "ray_return",
        SWITCH,
        False,
        "the output folder is not shared with the Ray workers: send them the inputs and "
        "write their results here",
    ),
    Option("retries", INT, 2, "with --ray, times a job whose worker died is retried elsewhere"),
    BACKEND,
    PRESET,
    Option(
        "device",
        TEXT,
        help="auto, cpu, cuda:N, ...; all: one worker process per accelerator here; a comma "
        "list (cuda:0,cuda:1 or cpu,cpu): one worker process each",
        shown_default="auto",
    ),
)
# Config's options that ``nst batch`` does not take: its --device above replaces Config's, and
# its outputs are named by their inputs, with no snapshots beside them.
NOT_IN_BATCH = ("device", "save_every")

SERVE = (
    Option("host", TEXT, "127.0.0.1", "address to listen on"),
    Option("port", INT, 8000, "port", check=PORT),
    BACKEND,
    Option(
        "device",
        TEXT,
        "auto",
        "device(s) to run jobs on, one worker each",
        shown_default="auto: every GPU, else the CPU",
    ),
    Option(
        "data",
        TEXT,
        help="where jobs are kept",
        metavar="DIR",
        shown_default=lambda: str(studio_data_dir()),
    ),
    Option(
        "weights",
        TEXT,
        help="network weights of every job, a name or a file",
        shown_default="auto; the page can pick named ones",
    ),
    Option("token", TEXT, help="the token a non-loopback --host requires", shown_default="a new random one"),
    Option("open", SWITCH, False, "open the page in a browser once it is served"),
)

WEIGHTS_CONVERT = (
    Option(
        "source", TEXT, help="a weight name (vgg16-offline, ...) or file", flags=("source",), metavar="SRC"
    ),
    Option("output", TEXT, flags=("-o", "--output"), metavar="DST", required=True),
)

LAYERS = (Option("arch", TEXT, "vgg19", "the network whose layers to list", choices=("vgg16", "vgg19")),)
