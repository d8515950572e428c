"""``Backend.start_batch``: several images in one optimisation, each exactly as on its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nst.backend import get_backend
from nst.config import make_config
from nst.network import TINY, TORCHVISION, random_params
from tests.helpers import SHALLOW, smooth_image


def problem(backend, count: int, **options):
    """``count`` content/style pairs on the tiny VGG, each starting from its content."""
    cfg = make_config("mse", size=32, **SHALLOW, **options)
    spec = cfg.loss_spec(1)
    net = backend.load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, cfg.pooling, "cpu")
    contents = [smooth_image(24, 32, seed=k) for k in range(count)]
    styles = [smooth_image(32, 32, seed=10 + k) for k in range(count)]
    targets = [backend.prepare_targets(net, c, [s], spec) for c, s in zip(contents, styles)]
    return cfg.run_settings(), spec, net, targets, contents


# L-BFGS on the tiny random VGG is chaotic: a 1e-6 change of the init moves its loss by up
# to 2% after 20 steps, and a batched convolution rounds differently from a single one. So
# L-BFGS is compared where rounding has not grown yet (bench.batch compares on VGG16).
@pytest.mark.parametrize("optimizer, steps", [("lbfgs", 5), ("adam", 20)])
def test_each_image_of_a_batch_follows_its_own_run(backend_name, optimizer, steps):
    backend = get_backend(backend_name)
    settings, spec, net, targets, inits = problem(backend, 3, optimizer=optimizer)
    # Each image its own weights, as 'relative' resolves them per pair.
    specs = [replace(spec, content=tuple((l, w * (1 + k)) for l, w in spec.content)) for k in range(3)]
    batch = backend.start_batch(net, targets, inits, specs, settings)
    batched = [batch.advance(steps - 2), batch.advance(2)][-1]
    for k in range(3):
        alone = backend.start(net, targets[k], inits[k], specs[k], settings)
        alone.advance(steps - 2)
        losses = alone.advance(2)
        for term in ("content", "style", "total"):
            assert batched[k][term] == pytest.approx(losses[term], rel=1e-4)
        np.testing.assert_allclose(batch.images()[k], alone.image(), atol=1e-4)
    # Different images reach different losses: the batch is not one shared objective.
    assert len({round(b["total"], 3) for b in batched}) == 3


def test_torch_batch_of_one_takes_the_very_steps_of_a_single_run():
    """The same evaluations in the same order: each L-BFGS keeps its own history and line
    search, bit for bit (a batch of one runs the very convolutions of a single run)."""
    backend = get_backend("torch")
    settings, spec, net, targets, inits = problem(backend, 1, optimizer="lbfgs")
    batch = backend.start_batch(net, targets, inits, [spec] * len(inits), settings)
    alone = backend.start(net, targets[0], inits[0], spec, settings)
    for _ in range(4):  # chunks: each L-BFGS step call's first evaluation is answered alike
        assert batch.advance(5)[0] == alone.advance(5)
    np.testing.assert_array_equal(batch.images()[0], alone.image())
    assert batch.members[0].evaluations == alone.evaluations


def test_a_jax_batch_on_the_cpu_takes_the_very_steps_of_single_runs():
    """One image after another inside the step: each rounds as alone, so even L-BFGS's line
    search, which turns a last-bit difference into another trial step, stays bit for bit."""
    pytest.importorskip("jax")
    backend = get_backend("jax")
    settings, spec, net, targets, inits = problem(backend, 2, optimizer="lbfgs")
    batch = backend.start_batch(net, targets, inits, [spec] * 2, settings)
    batched = batch.advance(20)
    for k in range(2):
        alone = backend.start(net, targets[k], inits[k], spec, settings)
        assert batched[k] == alone.advance(20)
        np.testing.assert_array_equal(batch.images()[k], alone.image())


@pytest.mark.parametrize("optimizer, steps", [("lbfgs", 5), ("adam", 20)])
def test_a_vmapped_jax_batch_follows_single_runs(optimizer, steps):
    # The accelerators' way (vmap), run here on the CPU.
    pytest.importorskip("jax")
    from nst.backends.jax.optim import JaxBatchOptimization

    backend = get_backend("jax")
    settings, spec, net, targets, inits = problem(backend, 2, optimizer=optimizer)
    batch = JaxBatchOptimization(
        net.module, net.params, targets, inits, [spec] * 2, settings, net.jax_device, sequential=False
    )
    batched = batch.advance(steps)
    for k in range(2):
        alone = backend.start(net, targets[k], inits[k], spec, settings).advance(steps)
        assert batched[k]["total"] == pytest.approx(alone["total"], rel=1e-4)
