"""Precision on the CPU: a bf16 run runs its network in bfloat16 (the dtype of the activations
it sees), ends on other pixels than the fp32 run and reaches its loss within 3% (the same
autocast / bf16 code paths as on a GPU; tests/test_gpu.py repeats the loss there). tf32 turns
torch's TF32 flags on for the steps only (and JAX's convolutions to HIGH precision), and
PyTorch's Adam on CUDA is the fused one; both checked without a GPU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from nst.arch import TINY, TORCHVISION, VGG16, Arch, random_params
from nst.backend import get_backend
from nst.options.config import make_config
from tests.conftest import installed_backends
from tests.helpers import smooth_image, tiny_problem


class NetworkSpy:
    """What each pass through a backend's network sees: the dtype of its activations and how
    its arithmetic is set (torch: the TF32 flags; JAX: the convolutions' precision). JAX is
    seen while it traces, so the spy drops the programs compiled before it."""

    def __init__(self, backend: str, monkeypatch: pytest.MonkeyPatch):
        self.backend = backend
        self.dtypes: set[str] = set()
        self.arithmetic: set = set()
        if backend == "torch":
            import torch

            from nst.backends.torch.vgg import VGGFeatures

            forward = VGGFeatures.forward

            def recording_forward(module, x, *args, **kwargs):
                features = forward(module, x, *args, **kwargs)
                self.dtypes |= {str(f.dtype).removeprefix("torch.") for f in features.values()}
                self.arithmetic.add((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
                return features

            monkeypatch.setattr(VGGFeatures, "forward", recording_forward)
        else:
            import jax

            from nst.backends.jax import vgg

            conv = vgg.conv3x3

            def recording_conv(x, kernel, precision):
                self.dtypes.add(str(x.dtype))
                self.arithmetic.add(precision)
                return conv(x, kernel, precision)

            monkeypatch.setattr(vgg, "conv3x3", recording_conv)
            jax.clear_caches()

    def reset(self) -> None:
        self.dtypes, self.arithmetic = set(), set()


@dataclass(frozen=True)
class Run:
    loss: float
    image: np.ndarray
    dtypes: set[str]  # of the activations the steps saw
    arithmetic: set


def optimise(
    spy: NetworkSpy, precision: str, optimizer: str, steps: int, arch: Arch = TINY, size: int = 32
) -> Run:
    content, style = smooth_image(size, size * 3 // 4, 1), smooth_image(size, size, 2)
    cfg = make_config("mse", size=size, device="cpu", precision=precision, optimizer=optimizer)
    spec = cfg.loss_spec(1)
    be = get_backend(spy.backend)
    net = be.load_network(random_params(arch, seed=1), arch, TORCHVISION, spec.layers, "max", "cpu")
    targets = be.prepare_targets(net, content, [style], spec)
    spy.reset()
    run = be.start(net, targets, content, spec, cfg.run_settings())
    run.advance(steps)
    image, dtypes, arithmetic = run.image(), set(spy.dtypes), set(spy.arithmetic)
    # Scored in fp32, so both runs are judged by the same arithmetic.
    return Run(be.loss_terms(net, targets, image, spec)["total"], image, dtypes, arithmetic)


@pytest.mark.parametrize("backend", installed_backends())
@pytest.mark.parametrize("optimizer, steps", [("adam", 40), ("lbfgs", 20)])
def test_bf16_runs_in_bf16_and_reaches_the_fp32_loss_within_3_percent_on_cpu(
    backend, optimizer, steps, monkeypatch
):
    spy = NetworkSpy(backend, monkeypatch)
    fp32, bf16 = (optimise(spy, precision, optimizer, steps, VGG16, 64) for precision in ("fp32", "bf16"))
    assert fp32.dtypes == {"float32"} and bf16.dtypes == {"bfloat16"}
    # bf16 silently off would end on the fp32 run's pixels, bit for bit.
    assert np.abs(bf16.image - fp32.image).max() > 1e-3
    assert bf16.loss == pytest.approx(fp32.loss, rel=0.03)


@pytest.mark.parametrize("precision, tf32", [("tf32", True), ("fp32", False)])
def test_torch_tf32_flags_hold_for_the_steps_and_are_restored(monkeypatch, precision, tf32):
    torch = pytest.importorskip("torch")
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    # The caller's flags are the opposite of the run's, so a flag left unset or unrestored shows.
    matmul.allow_tf32 = cudnn.allow_tf32 = not tf32
    try:
        spy = NetworkSpy("torch", monkeypatch)
        assert optimise(spy, precision, "adam", 2).arithmetic == {(tf32, tf32)}
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (not tf32, not tf32)
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_jax_tf32_runs_the_network_at_high_precision(monkeypatch):
    pytest.importorskip("jax")
    from jax import lax

    spy = NetworkSpy("jax", monkeypatch)
    assert optimise(spy, "tf32", "adam", 2).arithmetic == {lax.Precision.HIGH}
    assert optimise(spy, "fp32", "adam", 2).arithmetic == {lax.Precision.HIGHEST}


@pytest.mark.parametrize("on_cuda, fused", [(True, True), (False, None)])
def test_torch_adam_is_fused_on_cuda(monkeypatch, on_cuda, fused):
    """The decision, on the CPU: the pixels are a tensor that says it is on CUDA."""
    torch = pytest.importorskip("torch")
    from nst.backends.torch import optim

    class OnCuda(torch.Tensor):
        @property
        def is_cuda(self):
            return True

    to_tensor, adam = optim.to_tensor, torch.optim.Adam
    built: list[dict] = []

    def pixels(image, device):
        tensor = to_tensor(image, device)
        return tensor.as_subclass(OnCuda) if on_cuda else tensor

    def recording_adam(params, **options):
        built.append(options)
        return adam(params, **{k: v for k, v in options.items() if k != "fused"})

    monkeypatch.setattr(optim, "to_tensor", pixels)
    monkeypatch.setattr(torch.optim, "Adam", recording_adam)
    backend = get_backend("torch")
    images = {"content": smooth_image(32, 24, 1), "style": smooth_image(32, 32, 2)}
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="adam")
    run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
    assert run.pixels.is_cuda is on_cuda and [options.get("fused") for options in built] == [fused]
