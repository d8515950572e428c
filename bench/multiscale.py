"""`python -m bench.multiscale`: does coarse to fine reach the single-scale loss sooner?

Two runs of the driver at ``--size`` on the same images, weights and backend: one scale with
``--iterations`` L-BFGS steps, then coarse to fine (default: nst's auto schedule, ``--scales 0``) with
the same steps at each scale. The single-scale run's final loss is the target; the multi-scale
run's time to it counts every scale (coarse ones included) from the start of its
optimisation, compile time excluded, and is read where it first reaches the target at full
size (losses at the coarse sizes are not comparable). Writes JSON, Markdown and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from bench.cell import load_images
from bench.environment import describe_environment
from nst.config import make_config
from nst.stylize import StyleTransfer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.multiscale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="final longest side (default: 512)")
    parser.add_argument("--iterations", type=int, default=100, help="L-BFGS steps per scale (default: 100)")
    parser.add_argument("--scales", type=int, default=0,
                        help="scales of the coarse-to-fine run (default: 0, nst's auto schedule)")
    parser.add_argument("--backend", default="torch", help="torch or jax (default: torch)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or tpu (default: cpu)")
    parser.add_argument("--weights", default="vgg16-offline", help="network weights (default: vgg16-offline)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--name", help="file stem (default: multiscale-<device>-<date>)")
    return parser.parse_args(argv)


def run(args, scales: int) -> dict:
    cfg = make_config(size=args.size, iterations=args.iterations, scales=scales, print_every=5,
                      device=args.device, weights=args.weights)
    content, style = load_images(args.size)
    transfer = StyleTransfer(cfg, args.backend).prepare(content, [style])
    result = transfer.run()
    return {"scales": list(cfg.scale_sizes), "history": result.history}


def time_to_target(history: list[dict], size: int, target: float) -> float | None:
    return next((entry["seconds"] for entry in history
                 if entry["size"] == size and entry["total"] <= target), None)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    single, multi = run(args, scales=1), run(args, scales=args.scales)
    target = single["history"][-1]["total"]
    single_seconds = single["history"][-1]["seconds"]
    multi_seconds = time_to_target(multi["history"], args.size, target)
    report = {"environment": describe_environment(args.device), "backend": args.backend,
              "weights": args.weights, "size": args.size, "iterations_per_scale": args.iterations,
              "target_loss": target, "single_scale_seconds": single_seconds,
              "multi_scale_seconds_to_target": multi_seconds,
              "ratio": None if multi_seconds is None else multi_seconds / single_seconds,
              "single": single, "multi": multi}
    stem = args.out / (args.name or f"multiscale-{args.device}-{date.today().isoformat()}")
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    summary = (f"{args.backend} on {args.device}, {args.size} px, {args.iterations} L-BFGS steps per "
               f"scale, scales {multi['scales']}: single scale reaches loss {target:.4g} in "
               f"{single_seconds:.1f} s; coarse to fine reaches it in "
               + ("never" if multi_seconds is None else
                  f"{multi_seconds:.1f} s ({report['ratio']:.2f} of the time)"))
    stem.with_suffix(".md").write_text(f"# Multi-scale vs single scale\n\n{summary}\n")
    _plot(report, stem.with_suffix(".png"))
    print(summary)
    return 0


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4.5))
    for label, key in (("single scale", "single"), ("coarse to fine", "multi")):
        history = report[key]["history"]
        for size in report[key]["scales"]:
            points = [(e["seconds"], e["total"]) for e in history if e["size"] == size]
            axis.plot(*zip(*points), label=f"{label}, {size} px")
    axis.axhline(report["target_loss"], color="gray", linestyle=":", label="target (single-scale final)")
    axis.set(xlabel="optimisation wall time (s, compile excluded)", ylabel="total loss", yscale="log",
             title=f"{report['backend']}, {report['size']} px")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
