"""GPU paths: the same numbers as on the CPU, and mixed precision that costs no quality.
Skipped on machines without a GPU (CI has none)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nst.arch import TORCHVISION, VGG16, random_params
from nst.backend import get_backend
from nst.options.config import make_config
from tests.conftest import installed_backends
from tests.helpers import smooth_image

pytestmark = pytest.mark.gpu


def final_loss(backend: str, device: str, precision: str, optimizer: str, size: int, steps: int) -> float:
    """The fp32 loss after ``steps`` steps of a run in ``precision`` on VGG16 (random weights)."""
    content, style = smooth_image(size, size * 3 // 4, 1), smooth_image(size, size, 2)
    cfg = make_config("mse", size=size, device=device, precision=precision, optimizer=optimizer)
    spec = cfg.loss_spec(1)
    be = get_backend(backend)
    net = be.load_network(random_params(VGG16, seed=1), VGG16, TORCHVISION, spec.layers, "max", device)
    targets = be.prepare_targets(net, content, [style], spec)
    run = be.start(net, targets, content, spec, cfg.run_settings())
    run.advance(steps)
    # Scored in fp32, so both runs are judged by the same arithmetic.
    return be.loss_terms(net, targets, run.image(), spec)["total"]


def gpu_backends() -> list[str]:
    found = []
    if "torch" in installed_backends():
        import torch

        if torch.cuda.is_available():
            found.append("torch")
    if "jax" in installed_backends() and importlib.util.find_spec("nst.backends.jax.backend"):
        import jax

        if any(d.platform in ("gpu", "cuda", "tpu") for d in jax.devices()):
            found.append("jax")
    return found


needs_gpu = pytest.mark.skipif(not gpu_backends(), reason="no GPU here")


def setup(backend, device, size=96):
    content, style = smooth_image(size, size * 3 // 4, 1), smooth_image(size, size, 2)
    spec = make_config("mse", size=size, device=device).loss_spec(1)
    be = get_backend(backend)
    net = be.load_network(random_params(VGG16, seed=1), VGG16, TORCHVISION, spec.layers, "max", device)
    return be, net, be.prepare_targets(net, content, [style], spec), content, spec


@needs_gpu
@pytest.mark.parametrize("backend", gpu_backends())
def test_gpu_features_and_losses_match_cpu(backend):
    results = {}
    for device in ("cpu", "gpu"):
        be, net, targets, content, spec = setup(backend, device)
        results[device] = (net.features(content), be.loss_terms(net, targets, content, spec))
    for layer, cpu_value in results["cpu"][0].items():
        error = np.abs(results["gpu"][0][layer] - cpu_value).max() / np.abs(cpu_value).max()
        assert error <= 1e-4, layer
    assert results["gpu"][1]["total"] == pytest.approx(results["cpu"][1]["total"], rel=1e-4)


@needs_gpu
@pytest.mark.parametrize("backend", gpu_backends())
@pytest.mark.parametrize("optimizer, steps", [("adam", 100), ("lbfgs", 50)])
def test_bf16_reaches_the_fp32_loss_within_3_percent(backend, optimizer, steps):
    fp32, bf16 = (
        final_loss(backend, "gpu", precision, optimizer, 128, steps) for precision in ("fp32", "bf16")
    )
    assert bf16 == pytest.approx(fp32, rel=0.03)


@pytest.mark.skipif("torch" not in gpu_backends(), reason="no CUDA GPU for torch here")
def test_torch_gives_back_the_autotuner_memory_after_the_first_steps():
    import torch

    be, net, targets, content, spec = setup("torch", "gpu", size=512)
    run = be.start(net, targets, content, spec, make_config(size=512, device="gpu").run_settings())
    run.advance(2)
    run.advance(2)
    # The autotuner's trial workspaces peak at 32.7 GiB here on an H200; one run's own
    # tensors (network, activations, L-BFGS history of 100 images) need well under 2 GiB.
    assert torch.cuda.memory_reserved() < 2 * 2**30


@pytest.mark.skipif("torch" not in gpu_backends(), reason="no CUDA GPU for torch here")
def test_cudnn_autotune_check_reports_both_settings():
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cudnn_autotune",
            "--weights",
            "vgg16-random",
            "--size",
            "256",
            "--steps",
            "12",
        ],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["autotune on", "autotune off"]
    assert all("reserved after the run" in line for line in lines)


@pytest.mark.skipif("torch" not in gpu_backends(), reason="no CUDA GPU for torch here")
def test_a_cuda_graph_replay_gives_the_eager_loss_and_gradient():
    from nst.backends.torch.arrays import to_tensor
    from nst.backends.torch.graphs import GraphedEvaluation

    be, net, targets, content, spec = setup("torch", "gpu", size=128)
    run = be.start(net, targets, content, spec, make_config(size=128, device="gpu").run_settings())
    for seed in (3, 4):  # two images through the one capture
        image = to_tensor(smooth_image(*content.shape[:2], seed), net.torch_device)
        replayed_terms, replayed_grad = run.terms_and_gradient(image)
        eager_terms, eager_grad = run._evaluate(image)
        assert isinstance(run._graphed, GraphedEvaluation)
        for name, value in eager_terms.items():
            assert float(replayed_terms[name]) == pytest.approx(float(value), rel=1e-5)
        scale = float(eager_grad.abs().max())
        np.testing.assert_allclose(replayed_grad.cpu().numpy(), eager_grad.cpu().numpy(), atol=1e-5 * scale)


@pytest.mark.skipif("torch" not in gpu_backends(), reason="no CUDA GPU for torch here")
@pytest.mark.parametrize("optimizer, steps", [("adam", 20), ("lbfgs", 10)])
def test_a_run_with_cuda_graphs_follows_the_eager_run(optimizer, steps):
    from dataclasses import replace

    be, net, targets, content, spec = setup("torch", "gpu", size=128)
    settings = make_config(size=128, device="gpu", optimizer=optimizer).run_settings()
    losses = []
    for graphs in (True, False):
        run = be.start(net, targets, content, spec, replace(settings, cuda_graphs=graphs))
        losses.append(run.advance(steps)["total"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)
