"""`python -m bench.multiscale`: does coarse to fine reach the single-scale loss sooner?

Runs of the driver at ``--size`` on the same images, weights and backend: one scale with
``--iterations`` steps (its final loss is the target), then one coarse-to-fine run per schedule.
A schedule is the steps at each scale, coarsest first (``--scale-iterations 300,1000``: two
scales, 362-512 px at 512); give the option once per schedule. Without it, one run with
``--scales`` scales (default 2, nst's auto from noise) and nst's default steps (0.3 of
``--iterations`` at each coarser scale).
Every schedule is first run untimed for a few steps per scale, so that no timed run pays for
meeting an image size first. A run's time to the target counts every scale (coarse ones
included) from the start of its optimisation, compile time excluded, and is read where it
first reaches the target at full size (losses at the coarse sizes are not comparable).
Runs from noise are chaotic: another seed moves the share by as much as schedules differ, so
``--seeds 0,1,2`` repeats the comparison (single scale included) per seed and reports each
share and their median.
Writes JSON, Markdown and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from datetime import date
from pathlib import Path

from bench.cell import image_sources, load_images
from bench.environment import describe_environment
from nst.errors import NstError
from nst.options.config import Config, make_config
from nst.options.kinds import whole_numbers
from nst.stylize import StyleTransfer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.multiscale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=512, help="final longest side (default: 512)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=100,
        help="steps of the single-scale run and, without a schedule, of the last scale (default: 100)",
    )
    parser.add_argument(
        "--scales",
        type=int,
        default=2,
        help="scales of the coarse-to-fine run without a schedule (default: 2)",
    )
    parser.add_argument(
        "--scale-iterations",
        type=whole_numbers,
        action="append",
        default=None,
        help="a schedule: steps per scale, coarsest first; repeat to compare several",
    )
    parser.add_argument(
        "--seeds",
        type=whole_numbers,
        default=(0,),
        help="noise seeds, one comparison each, e.g. 0,1,2 (default: 0)",
    )
    parser.add_argument(
        "--init", default="content", help="starting image: content or noise (default: content)"
    )
    parser.add_argument("--optimizer", default="lbfgs", help="lbfgs or adam (default: lbfgs)")
    parser.add_argument(
        "--adam-beta2",
        type=float,
        default=Config().adam_beta2,
        help=f"Adam's second-moment decay (default: nst's, {Config().adam_beta2})",
    )
    parser.add_argument("--precision", default="fp32", help="fp32, tf32 or bf16 (default: fp32)")
    parser.add_argument("--backend", default="torch", help="torch or jax (default: torch)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or tpu (default: cpu)")
    parser.add_argument("--weights", default="vgg16-offline", help="network weights (default: vgg16-offline)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--name", help="file stem (default: multiscale-<device>-<date>)")
    parser.add_argument(
        "--notes",
        help="text written into the report (JSON and Markdown): how it was run, what to read it with",
    )
    return parser.parse_args(argv)


WARM_UP_STEPS = 2


def run(args, scales: int, scale_iterations: tuple[int, ...] | None = None, seed: int = 0) -> dict:
    cfg = make_config(
        size=args.size,
        iterations=args.iterations,
        scales=scales,
        seed=seed,
        scale_iterations=scale_iterations,
        init=args.init,
        optimizer=args.optimizer,
        adam_beta2=args.adam_beta2,
        precision=args.precision,
        print_every=5,
        device=args.device,
        weights=args.weights,
    )
    content, style = load_images(args.size)
    transfer = StyleTransfer(cfg, args.backend).prepare(content, [style])
    result = transfer.run()
    return {
        "scales": list(cfg.scale_sizes),
        "steps_per_scale": list(cfg.steps_per_scale),
        "history": result.history,
    }


def time_to_target(history: list[dict], size: int, target: float) -> float | None:
    return next(
        (entry["seconds"] for entry in history if entry["size"] == size and entry["total"] <= target), None
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return benchmark(args)
    except NstError as error:  # a value nst refuses (--optimizer sgd, a missing --weights file, ...)
        print(f"bench.multiscale: {error}", file=sys.stderr)
        return 2


def benchmark(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    schedules = [(len(steps), steps) for steps in args.scale_iterations or []] or [(args.scales, None)]
    # First use of an image size costs seconds on a GPU (cuDNN's autotuner, lazy kernel loading),
    # which would be charged to whichever run meets that size first: meet them all untimed.
    for scales, _steps in [(1, None), *schedules]:
        sizes = make_config(size=args.size, scales=scales, init=args.init).scale_sizes
        run(args, scales, (WARM_UP_STEPS,) * len(sizes))
    by_seed = [compare(args, schedules, seed) for seed in args.seeds]
    report = {
        "environment": describe_environment(args.device),
        "backend": args.backend,
        "weights": args.weights,
        "images": image_sources(),
        "size": args.size,
        "init": args.init,
        "optimizer": args.optimizer,
        "precision": args.precision,
        **({"adam_beta2": args.adam_beta2} if args.optimizer == "adam" else {}),
        "single_scale_iterations": args.iterations,
        "seeds": list(args.seeds),
        "by_seed": by_seed,
        "median_ratio": median_ratios(by_seed),
        **({"notes": args.notes} if args.notes else {}),
    }
    stem = args.out / (args.name or f"multiscale-{args.device}-{date.today().isoformat()}")
    print(write_report(report, stem))
    return 0


def compare(args, schedules, seed: int) -> dict:
    """One seed: the single-scale run, its final loss as the target, then each schedule."""
    single = run(args, scales=1, seed=seed)
    target = single["history"][-1]["total"]
    single_seconds = single["history"][-1]["seconds"]
    runs = []
    for scales, steps in schedules:
        multi = run(args, scales, steps, seed)
        seconds = time_to_target(multi["history"], args.size, target)
        runs.append(
            {
                **multi,
                "seconds_to_target": seconds,
                "ratio": None if seconds is None else seconds / single_seconds,
                "final_loss": multi["history"][-1]["total"],
            }
        )
        print(f"seed {seed}: {describe(runs[-1])}", flush=True)
    return {
        "seed": seed,
        "target_loss": target,
        "single_scale_seconds": single_seconds,
        "single": single,
        "multi": runs,
    }


def describe_optimizer(report: dict) -> str:
    """'lbfgs', or 'adam (beta2 0.9)'; files written before beta2 was recorded say 'adam'."""
    beta2 = report.get("adam_beta2")
    return report["optimizer"] + (f" (beta2 {beta2:g})" if beta2 is not None else "")


def median_ratios(by_seed: list[dict]) -> list[float | None]:
    """Per schedule, the median over seeds of its share of single's time."""
    return [
        median_share([seed["multi"][index]["ratio"] for seed in by_seed])
        for index in range(len(by_seed[0]["multi"]))
    ]


def median_share(shares: list[float | None]) -> float | None:
    """The median of shares where None (never reached the target) counts as above every share;
    None if the median is such a one."""
    median = statistics.median(math.inf if share is None else share for share in shares)
    return None if median == math.inf else median


def write_report(report: dict, stem: Path) -> str:
    """``stem``.json, .md (a table of the schedules) and .png; returns the summary line."""

    def path(suffix):
        return stem.parent / f"{stem.name}{suffix}"  # the stem may hold dots

    path(".json").write_text(json.dumps(report, indent=1))
    env = report["environment"]
    singles = "; ".join(
        f"loss {s['target_loss']:.4g} in {s['single_scale_seconds']:.1f} s with seed {s['seed']}"
        for s in report["by_seed"]
    )
    summary = (
        f"{report['backend']} on {env.get('gpu') or env['device']}, {report['size']} px, "
        f"{describe_optimizer(report)} {report['precision']}, init {report['init']}: single scale "
        f"({report['single_scale_iterations']} steps) reaches {singles}."
    )
    lines = []
    for index in range(len(report["median_ratio"])):  # one row per schedule and seed
        for seed in report["by_seed"]:
            run = seed["multi"][index]
            lines.append(
                f"| {describe_schedule(run)} | {seed['seed']} | {run['final_loss']:.4g} | "
                f"{reached(run['seconds_to_target'], run['ratio'])} |"
            )
    if len(report["seeds"]) > 1:
        lines.append(
            f"\nMedian share over seeds {', '.join(map(str, report['seeds']))} "
            "(a seed that never reached its target counts as above every share):"
        )
        lines += [
            f"- {describe_schedule(r)}: {describe_share(m)}"
            for r, m in zip(report["by_seed"][0]["multi"], report["median_ratio"])
        ]
    path(".md").write_text(
        f"# Multi-scale vs single scale\n\n{summary}\n\n"
        f"Images: content {report['images']['content']}, style {report['images']['style']}; "
        f"weights: {report['weights']}.\n\n"
        + (f"{report['notes']}\n\n" if report.get("notes") else "")
        + "| coarse to fine: px x steps | seed | final loss | time to the target (share of single's) |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(lines) + "\n"
    )
    _plot(report, path(".png"))
    return summary


def describe_schedule(run: dict) -> str:
    return ", ".join(f"{size} x {steps}" for size, steps in zip(run["scales"], run["steps_per_scale"]))


def describe_share(share: float | None) -> str:
    return "never" if share is None else f"{share:.2f}"


def reached(seconds: float | None, ratio: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s ({ratio:.2f})"


def describe(run: dict) -> str:
    return (
        f"coarse to fine {describe_schedule(run)}: reaches the target in "
        f"{reached(run['seconds_to_target'], run['ratio'])} (share of the single-scale time)"
    )


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axis = plt.subplots(figsize=(8, 5))
    dashes = ["-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
    seeds = report["by_seed"]
    per_seed = " (one line style per seed)" if len(seeds) > 1 else ""
    lowest = math.inf
    for number, seed in enumerate(seeds):
        style, first = dashes[number % len(dashes)], number == 0
        history = seed["single"]["history"]
        axis.plot(
            [e["seconds"] for e in history],
            [e["total"] for e in history],
            color="black",
            linestyle=style,
            linewidth=2,
            label=f"single scale, {report['size']} px{per_seed}" if first else None,
        )
        for index, run in enumerate(seed["multi"]):
            # Losses at the coarse sizes are not comparable with the target: only the last scale is drawn.
            points = [(e["seconds"], e["total"]) for e in run["history"] if e["size"] == report["size"]]
            axis.plot(
                *zip(*points),
                color=f"C{index}",
                linestyle=style,
                label=f"coarse to fine {describe_schedule(run)}" if first else None,
            )
            lowest = min(lowest, *(loss for _, loss in points))
        axis.axhline(seed["target_loss"], color="gray", linestyle=style, linewidth=0.8)
        lowest = min(lowest, history[-1]["total"])
    # The question is where the curves cross the targets: show the last stretch, not the first steps.
    axis.set_ylim(0.98 * lowest, 1.5 * max(seed["target_loss"] for seed in seeds))
    axis.set(
        xlabel="optimisation wall time (s, compile excluded); coarse scales run before each curve starts",
        ylabel=f"total loss at {report['size']} px (gray: single-scale final loss)",
        title=f"{report['backend']} on {report['environment'].get('gpu') or report['environment']['cpu']}",
    )
    axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
