"""How long a planned run will take, from the step times that ``python -m bench`` measured on
this kind of machine (its JSON files in the checkout's bench/results/).

A step's cost grows with the pixels it convolves, so the estimate is a measured step's
seconds per pixel times each scale's pixels and steps. The bench measures VGG19, and nst's
default weights may be VGG16: the estimate says which measurement it rests on, and is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nst import hardware
from nst.plan import RunPlan

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


@dataclass(frozen=True)
class StepCost:
    seconds_per_pixel: float  # one step's median seconds over its image's pixels
    source: str  # the file and the cell it comes from


def measured_step_cost(
    backend: str, optimizer: str, precision: str, device: str, results: Path = RESULTS
) -> StepCost | None:
    """The largest measured cell of this backend, optimiser and precision on this machine's
    CPU (by model name) or on a device of ``device``'s kind; None when none was measured."""
    kind = "cpu" if device.startswith("cpu") else device.split(":")[0]
    model = hardware.cpu_model() if kind == "cpu" else None
    best: tuple[int, StepCost] | None = None
    for path in sorted(results.glob("*.json")) if results.is_dir() else ():
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(run, dict) or not isinstance(run.get("cells"), list):
            continue
        environment = run.get("environment", {})
        if environment.get("device") != kind or (model and environment.get("cpu") != model):
            continue
        for cell in run["cells"]:
            if not isinstance(cell, dict) or not cell.get("step_seconds_median"):
                continue
            if (cell.get("backend"), cell.get("optimizer"), cell.get("precision")) != (
                backend,
                optimizer,
                precision,
            ):
                continue
            pixels = int(cell["height"]) * int(cell["width"])
            if best is None or pixels > best[0]:
                source = f"{path.name}: {cell.get('network')} at {cell['width']}x{cell['height']} px"
                best = (pixels, StepCost(cell["step_seconds_median"] / pixels, source))
    return None if best is None else best[1]


def estimated_seconds(plan: RunPlan, cost: StepCost) -> float:
    return sum(cost.seconds_per_pixel * scale.height * scale.width * scale.steps for scale in plan.scales)
