"""--ema: the returned image is the bias-corrected moving average of the iterates.

On both backends with the tiny random VGG cut after block 2: a run with ``ema`` hands back
what averaging the iterates of a plain run (read one step at a time) gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from nst.arch import TINY, random_params
from nst.backend import get_backend
from nst.options.config import make_config
from nst.stylize import StyleTransfer
from tests.conftest import installed_backends
from tests.helpers import SHALLOW, tiny_problem

DECAY = 0.6
STEPS = 5


def start(backend_name: str, optimizer: str, ema: float, images):
    backend = get_backend(backend_name)
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer=optimizer, ema=ema, style_weight=1e4)
    return backend.start(net, targets, images["content"], spec, cfg.run_settings())


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return {name: rng.random((24, 32, 3), dtype=np.float32) for name in ("content", "style")}


@pytest.mark.parametrize("backend_name", installed_backends())
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_ema_returns_the_bias_corrected_average_of_the_iterates(backend_name, optimizer, images):
    plain = start(backend_name, optimizer, 0.0, images)
    iterates = []
    for _ in range(STEPS):
        plain.advance(1)
        iterates.append(plain.image().astype(np.float64))
    average = np.zeros_like(iterates[0])
    for x in iterates:
        average = DECAY * average + (1 - DECAY) * x
    expected = average / (1 - DECAY**STEPS)

    averaged = start(backend_name, optimizer, DECAY, images)
    averaged.advance(2)  # two chunks: the average carries over from one to the next
    averaged.advance(STEPS - 2)
    result = averaged.image()
    assert np.abs(result - expected).max() <= 1e-5
    assert np.abs(result - iterates[-1]).max() > 1e-3  # not the last iterate


@pytest.mark.parametrize("backend_name", installed_backends())
def test_ema_reaches_the_driver_result_and_snapshots(backend_name, images, tmp_path):
    from safetensors.numpy import save_file

    weights = tmp_path / "tiny.safetensors"
    save_file(random_params(TINY), str(weights))
    results = {}
    for ema in (0.0, DECAY):
        cfg = make_config(
            size=32, iterations=4, print_every=2, optimizer="adam", ema=ema, weights=str(weights), **SHALLOW
        )
        transfer = StyleTransfer(cfg, backend_name).prepare(images["content"], [images["style"]])
        snapshots = []
        results[ema] = transfer.run(lambda progress, kept=snapshots: kept.append(progress.image())).image
        np.testing.assert_array_equal(snapshots[-1], results[ema])
    assert np.abs(results[DECAY] - results[0.0]).max() > 1e-3
