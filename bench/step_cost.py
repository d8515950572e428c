"""`python -m bench.step_cost RESULT.json`: a bench.multiscale result re-timed with a step-cost model.

On a GPU a step at 362 px can take nearly as long as one at 512 px (launch-bound), so the wall
times there say little about a machine where a step costs its pixels. This reads the loss
curves of a ``bench.multiscale`` JSON and charges every step at each size the given seconds
(default: the 2-core CPU's measured L-BFGS steps, fp32, VGG16, from
bench/results/multiscale-cpu-noise-2026-11-26 and multiscale-cpu-noise-1000-2026-11-26; see
docs/coarse-to-fine.md). For each schedule and seed it prints the share of the
single-scale run's costed time that the schedule needs to reach the single-scale loss after
each of ``--against`` steps, and the median over seeds ("never" counts as above every share).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.multiscale import describe_schedule, describe_share, median_share
from nst.options.kinds import whole_numbers

CPU_SECONDS_PER_STEP = {256: 0.48, 362: 0.93, 512: 2.14}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.step_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("result", type=Path, help="a bench.multiscale JSON")
    parser.add_argument(
        "--seconds-per-step",
        type=size_seconds,
        default=CPU_SECONDS_PER_STEP,
        help="SIZE=SECONDS,... (default: the 2-core CPU's, 256=0.48,362=0.93,512=2.14)",
    )
    parser.add_argument(
        "--against",
        type=whole_numbers,
        default=None,
        help="single-scale step counts whose loss is the target (default: its last)",
    )
    return parser.parse_args(argv)


def size_seconds(text: str) -> dict[int, float]:
    try:
        return {int(size): float(seconds) for size, seconds in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not SIZE=SECONDS,...") from None


def costed_curve(history: list[dict], seconds_per_step: dict[int, float]) -> list[tuple[float, dict]]:
    """(costed seconds so far, entry) for each progress entry of a run."""
    curve, steps_before, seconds = [], 0, 0.0
    for entry in history:
        seconds += (entry["step"] - steps_before) * seconds_per_step[entry["size"]]
        steps_before = entry["step"]
        curve.append((seconds, entry))
    return curve


def costed_share(
    single_curve: list[tuple[float, dict]], multi_curve: list[tuple[float, dict]], against: int, size: int
) -> float | None:
    """Costed time for the multi-scale run to reach, at ``size``, single's loss after ``against``
    steps, as a share of single's costed time to those steps; None if it never does.
    Both curves come from ``costed_curve``."""
    seconds, entry = next((s, e) for s, e in single_curve if e["step"] >= against)
    reached = next((s for s, e in multi_curve if e["size"] == size and e["total"] <= entry["total"]), None)
    return None if reached is None else reached / seconds


def seeds_of(report: dict) -> list[dict]:
    """Per-seed comparisons; files written before ``--seeds`` hold one, at the top level."""
    return report.get("by_seed") or [{"seed": 0, "single": report["single"], "multi": report["multi"]}]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = json.loads(args.result.read_text())
        seeds = seeds_of(report)
    except (OSError, ValueError, KeyError) as error:
        print(f"bench.step_cost: {args.result} is not a bench.multiscale result ({error})", file=sys.stderr)
        return 2
    sizes = {
        entry["size"]
        for seed in seeds
        for run in [seed["single"], *seed["multi"]]
        for entry in run["history"]
    }
    missing = sizes - set(args.seconds_per_step)
    if missing:
        print(f"bench.step_cost: no --seconds-per-step for {sorted(missing)} px", file=sys.stderr)
        return 2
    single_steps = min(seed["single"]["history"][-1]["step"] for seed in seeds)
    against = args.against or (single_steps,)
    if max(against) > single_steps:
        print(
            f"bench.step_cost: the single-scale runs have {single_steps} steps, "
            f"--against asks for {max(against)}",
            file=sys.stderr,
        )
        return 2
    print(f"shares of the single-scale costed time to its loss after {', '.join(map(str, against))} steps")
    cost = args.seconds_per_step
    single_curves = [costed_curve(seed["single"]["history"], cost) for seed in seeds]
    for index, run in enumerate(seeds[0]["multi"]):
        table = []
        for seed, single_curve in zip(seeds, single_curves):
            multi_curve = costed_curve(seed["multi"][index]["history"], cost)
            table.append(
                [costed_share(single_curve, multi_curve, steps, report["size"]) for steps in against]
            )
        print(describe_schedule(run))
        for seed, shares in zip(seeds, table):
            print(f"  seed {seed['seed']}: {' / '.join(map(describe_share, shares))}")
        if len(seeds) > 1:
            print(f"  median: {' / '.join(describe_share(median_share(column)) for column in zip(*table))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
