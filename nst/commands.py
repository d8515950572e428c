"""What each ``nst`` subcommand does; ``nst.cli`` parses the arguments and handles errors."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from pathlib import Path

from nst import hardware
from nst import image as img
from nst.arch import ARCHS
from nst.backend import REGISTRY, get_backend
from nst.errors import EXIT_INTERRUPTED, EXIT_USAGE, NstError
from nst.events import Progress, Stopped
from nst.options.config import make_config
from nst.options.flags import config_from_args
from nst.plan import RunPlan
from nst.step_costs import estimated_seconds, measured_step_cost
from nst.stylize import Result, StyleTransfer


def _log(message: str) -> None:
    print(f"nst: {message}", file=sys.stderr)


def plan_stylize(args) -> int:
    cfg = config_from_args(args)
    content = img.load_image(args.content)
    transfer = StyleTransfer(cfg, args.backend)
    return print_plan(transfer.plan_for(content.shape, cfg.loss_spec(len(args.styles))))


def stylize(args) -> int:
    cfg = config_from_args(args)
    if args.output is None:
        raise NstError("the following arguments are required: -o/--output")
    output = img.check_output_path(args.output)
    # Read every input before the (slow) weights, so a bad file fails at once. prepare reads
    # them again from their paths, so that its messages name the files.
    for path in (args.content, *args.styles, *(cfg.mask or ()), *(cfg.style_mask or ())):
        img.load_image(path)
    transfer = StyleTransfer(cfg, args.backend, log=_log).prepare(args.content, args.styles)
    return _run_and_write(transfer, output)


def print_plan(plan: RunPlan) -> int:
    """``--plan``: the plan and its time on stdout; a refused plan then exits as the run would."""
    cost = measured_step_cost(plan.backend, plan.optimizer, plan.precision, plan.device)
    if cost is None:
        why = f"no step of {plan.backend} {plan.optimizer} measured on this machine's kind"
        print(plan.describe(None, why))
    else:
        print(plan.describe(estimated_seconds(plan, cost), f"from bench/results/{cost.source}"))
    plan.check()
    return 0


def video(args) -> int:
    from nst.video.command import run

    return run(args, config_from_args(args), _log)


def demo(args) -> int:
    from nst.demo import demo_content, demo_style

    output = img.check_output_path(args.output)
    cfg = make_config(size=args.size, iterations=args.iterations, weights="vgg16-offline", device=args.device)
    content = demo_content()
    style = demo_style()
    style_path = output.with_name(f"{output.stem}-style.png")
    img.save_image(style, style_path)
    _log(f"content: scikit-image's astronaut photo; style: a generated painting, written to {style_path}")
    transfer = StyleTransfer(cfg, args.backend, log=_log).prepare(content, [style])
    return _run_and_write(transfer, output)


def _run_and_write(transfer: StyleTransfer, output: Path) -> int:
    from tqdm import tqdm

    cfg = transfer.cfg
    sizes = " -> ".join(f"{size}" for size in cfg.scale_sizes)
    _log(
        f"backend {transfer.backend.name} on {transfer.net.device}, longest side {sizes} px, "
        f"{transfer.total_steps} {cfg.optimizer} steps"
    )
    if hardware.bf16_emulated(cfg.precision, transfer.net.device):
        _log(hardware.BF16_EMULATED)
    bar = tqdm(total=transfer.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True)

    def on_progress(progress: Progress) -> None:
        bar.update(progress.step - bar.n)
        bar.set_postfix_str(" ".join(f"{k}={v:.3g}" for k, v in progress.losses.items()))
        if cfg.save_every and progress.step % cfg.save_every == 0 and progress.step < progress.total:
            img.save_image(progress.image(), img.intermediate_path(output, progress.step))

    try:
        result: Result = transfer.run(on_progress)
    finally:  # an error's line then starts on a line of its own
        bar.close()
    img.save_image(result.image, output)
    if result.stopped is Stopped.INTERRUPTED:
        _log(
            f"interrupted at step {result.steps}/{transfer.total_steps}; wrote the current image to {output}"
        )
        return EXIT_INTERRUPTED
    if result.stopped is Stopped.NON_FINITE:
        _log(
            f"error: the loss became non-finite after step {result.steps}; wrote the last finite "
            f"image to {output}; try a smaller --lr or --style-weight"
        )
        return EXIT_USAGE
    print(f"wrote {output}")
    return 0


def weights(args) -> int:
    from nst import weights as nst_weights

    if args.weights_command == "list":
        rows = [("name", "available", "size", "preprocessing", "source")]
        for source in nst_weights.list_sources():
            rows.append(
                (
                    source.name,
                    "yes" if source.available_here else "no",
                    f"{source.size_bytes / 1e6:.0f} MB",
                    source.preprocessing,
                    source.location,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        return 0
    destination = Path(args.output)
    if not destination.parent.is_dir():
        raise NstError(f"output directory does not exist: {destination.parent}")
    loaded = nst_weights.convert(args.source, destination)
    print(f"wrote {destination} ({loaded.arch.name}, from {loaded.name})")
    return 0


def info(args) -> int:
    print(
        f"nst {importlib.metadata.version('nst')}, Python {platform.python_version()}, "
        f"numpy {importlib.metadata.version('numpy')}, {platform.machine()}"
    )
    for name, (_, extra) in REGISTRY.items():
        try:
            backend = get_backend(name)
        except NstError:
            print(f"backend {name}: not installed (pip install 'nst[{extra}]')")
            continue
        versions = ", ".join(
            f"{package} {importlib.metadata.version(package)}" for package in backend.framework_packages
        )
        print(f"backend {name}: {versions}; devices: {', '.join(backend.devices())}")
    print(hardware.describe_cpu_bf16())
    return 0


def layers(args) -> int:
    print(" ".join(ARCHS[args.arch].layers))
    return 0
