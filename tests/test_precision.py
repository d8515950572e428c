"""Mixed precision costs no quality: bf16 reaches the fp32 loss within 3%, on the CPU here
(the same autocast / bf16 code paths as on a GPU; tests/test_gpu.py repeats it there)."""

from __future__ import annotations

import pytest

from nst.backend import get_backend
from nst.config import make_config
from nst.network import TORCHVISION, VGG16, random_params
from tests.conftest import installed_backends
from tests.helpers import smooth_image


def final_loss(backend: str, device: str, precision: str, optimizer: str, size: int, steps: int) -> float:
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


@pytest.mark.parametrize("backend", installed_backends())
@pytest.mark.parametrize("optimizer, steps", [("adam", 40), ("lbfgs", 20)])
def test_bf16_reaches_the_fp32_loss_within_3_percent_on_cpu(backend, optimizer, steps):
    fp32, bf16 = (
        final_loss(backend, "cpu", precision, optimizer, 64, steps) for precision in ("fp32", "bf16")
    )
    assert bf16 == pytest.approx(fp32, rel=0.03)
