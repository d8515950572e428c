"""One benchmark cell in a fresh process: `python -m bench.cell '<json cell>'` prints a JSON result.

A cell this machine cannot run (its framework is not installed, its device is not here) prints
status "unavailable" with the reason; one it can run prints status "ok" and its measurements.
Anything else that goes wrong raises: the harness records the cell as failed with the last
lines of the traceback.

Phases, each timed on its own with the device synchronised (every `advance` returns Python
floats, which waits for the device): weight loading; compile / first step; then `steps` steps
in chunks, each chunk timed, giving the steady-state per-step median and spread and a
loss-versus-wall-time curve from which the harness reads the time to a target loss. nst's runs
count their loss-and-gradient evaluations, so a cell reports them per timed step and counts
its TFLOP/s from them, against the device's datasheet peak where bench.flops knows it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.flops import peak_fraction, peak_tflops, step_flops
from nst import hardware
from nst import image as img
from nst.arch import ARCHS, TORCHVISION, random_params
from nst.backend import get_backend
from nst.errors import NstError
from nst.options.config import make_config

REPOSITORY = Path(__file__).resolve().parents[1]
IMAGES = REPOSITORY.parent / "shared" / "images"
PAPER_IMAGES = {"content": "tubingen.jpg", "style": "starry_night.jpg"}
DEMO_IMAGES = {
    "content": "nst.demo's astronaut photo (scikit-image)",
    "style": "nst.demo's generated painting",
}
# The framework each cell imports: without it the cell is unavailable, while a backend that is
# installed but fails to import is a failure (get_backend reports both as "not installed").
FRAMEWORKS = {"baseline": "torch", "torch": "torch", "jax": "jax"}


def load_network_params(network: str):
    """'vgg16-offline' (real weights) or 'vgg19-random' / 'vgg16-random' (same shapes, He init):
    speed does not depend on the weights' values."""
    if network.endswith("-random"):
        arch = ARCHS[network.removesuffix("-random")]
        return random_params(arch, seed=0), arch, TORCHVISION
    from nst.weights import load_weights

    loaded = load_weights(network, progress=False)
    return loaded.params, loaded.arch, loaded.preprocess


def describe_weights(network: str) -> dict[str, str]:
    """The weights a cell uses, as reports name them, without loading them."""
    from nst.weights import list_sources

    if network.endswith("-random"):
        return {
            "name": network,
            "description": f"{network.removesuffix('-random')} with random He-init weights, seed 0",
        }
    sources = {source.name: source.description for source in list_sources()}
    return {"name": network, "description": sources.get(network, f"weights file {network}")}


def image_sources() -> dict[str, str]:
    """The content and style images every cell uses, as reports name them: the paper's
    photographs (relative to the repository) when ../shared/images is there, else nst's demo pair."""
    if IMAGES.is_dir():
        return {role: os.path.relpath(IMAGES / name, REPOSITORY) for role, name in PAPER_IMAGES.items()}
    return dict(DEMO_IMAGES)


def load_images(size: int):
    if IMAGES.is_dir():
        content, style = (img.load_image(IMAGES / PAPER_IMAGES[role]) for role in ("content", "style"))
    else:
        from nst.demo import demo_content, demo_style

        content, style = demo_content(), demo_style()
    content = img.resize_longest(content, size)
    # Style at the content's shape: the tutorial loop (the baseline) can only take that.
    return content, img.resize_to(style, *content.shape[:2])


def unavailable_reason(cell: dict) -> str | None:
    """Why this machine cannot run the cell (no framework, no such device), or None."""
    framework = FRAMEWORKS[cell["backend"]]
    if importlib.util.find_spec(framework) is None:
        return f"{framework} is not installed"
    backend = get_backend("torch" if cell["backend"] == "baseline" else cell["backend"])
    try:
        backend.resolve_device(cell["device"])  # refuses a device that is not here (NstError)
    except NstError as error:
        return str(error)
    return None


def run_cell(cell: dict) -> dict:
    cfg = make_config(
        size=cell["size"],
        optimizer=cell["optimizer"],
        precision=cell["precision"],
        device=cell["device"],
        seed=cell["seed"],
        # Fixed weights, which the tutorial loop shares: a step's cost does not depend on them.
        normalization="mse",
        style_weight=1e6,
    )
    content, style = load_images(cfg.size)
    loss_spec = cfg.loss_spec(1)
    started = time.perf_counter()
    params, arch, preprocess = load_network_params(cell["network"])
    if cell["backend"] == "baseline":
        run, device = _baseline(params, arch, content, style, loss_spec, cfg)
    else:
        backend = get_backend(cell["backend"])
        net = backend.load_network(params, arch, preprocess, loss_spec.layers, cfg.pooling, cfg.device)
        targets = backend.prepare_targets(net, content, [style], loss_spec)
        run, device = backend.start(net, targets, content, loss_spec, cfg.run_settings()), net.device
    setup_seconds = time.perf_counter() - started

    started = time.perf_counter()
    losses = run.advance(1)
    first_step_seconds = time.perf_counter() - started
    # The baseline loop does not count its evaluations: None, where nst's runs give a number.
    evaluations_after_first_step = getattr(run, "evaluations", None)

    chunk, per_step, curve, elapsed, done = cell["chunk"], [], [], 0.0, 1
    while done < cell["steps"]:
        n = min(chunk, cell["steps"] - done)
        started = time.perf_counter()
        losses = run.advance(n)
        seconds = time.perf_counter() - started
        done, elapsed = done + n, elapsed + seconds
        per_step.append(seconds / n)
        curve.append([done, elapsed, losses["total"]])
    median = statistics.median(per_step)
    quartiles = statistics.quantiles(per_step, n=4) if len(per_step) > 1 else [median, median, median]
    height, width = content.shape[:2]
    flops = step_flops(arch, loss_spec.layers, height, width)
    evaluations = getattr(run, "evaluations", None)
    evaluations_per_step = (
        None
        if evaluations is None or evaluations_after_first_step is None
        else (evaluations - evaluations_after_first_step) / (cell["steps"] - 1)
    )
    # One evaluation per step where the count is unknown: a lower bound for an L-BFGS step.
    achieved_tflops = flops * (1 if evaluations_per_step is None else evaluations_per_step) / median / 1e12
    kind = device_kind(cell)
    return {
        **cell,
        "status": "ok",
        "device_name": device,
        "bf16_emulated": hardware.bf16_emulated(cell["precision"], device),
        "height": height,
        "width": width,
        "setup_seconds": setup_seconds,
        "first_step_seconds": first_step_seconds,
        "compile_seconds": run.compile_seconds,
        "step_seconds_median": median,
        "step_seconds_iqr": quartiles[2] - quartiles[0],
        "step_flops": flops,
        "evaluations_after_first_step": evaluations_after_first_step,
        "evaluations": evaluations,
        "evaluations_per_step": evaluations_per_step,
        "achieved_tflops": achieved_tflops,
        "device_kind": kind,
        "peak_tflops": peak_tflops(kind, cell["precision"]),
        "peak_fraction": peak_fraction(achieved_tflops, kind, cell["precision"]),
        "peak_memory_bytes": _peak_memory(cell),
        "final_losses": losses,
        "curve": curve,
    }


def device_kind(cell: dict) -> str:
    """The device's model as its framework names it ('NVIDIA H200'), or 'cpu'."""
    if cell["backend"] == "jax":
        return get_backend("jax").resolve_device(cell["device"]).device_kind
    device = get_backend("torch").resolve_device(cell["device"])
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    return device.type


def _baseline(params, arch, content, style, loss_spec, cfg):
    import torch

    from bench.baseline import BaselineRun

    # The torch backend's device rules: a GPU that is not there is unavailable, not replaced by the CPU.
    device = get_backend("torch").resolve_device(cfg.device)
    # The baseline's row is fp32: PyTorch's default lets cuDNN convolve in TF32 on NVIDIA GPUs,
    # which would compare a TF32 loop with nst's true-fp32 cells.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    def as_tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)[None])).to(device)

    run = BaselineRun(
        params, arch, as_tensor(content), as_tensor(style), loss_spec, cfg.optimizer, cfg.step_size
    )
    return run, str(device)


def _peak_memory(cell) -> int:
    """Device memory on GPU/TPU, else the process's peak RSS."""
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and cell["backend"] != "jax":
            return int(torch.cuda.max_memory_allocated())
    if cell["backend"] == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return int(stats["peak_bytes_in_use"])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> int:
    cell = json.loads(argv[0])
    reason = unavailable_reason(cell)
    print(json.dumps({**cell, "status": "unavailable", "reason": reason} if reason else run_cell(cell)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
