"""``Backend.start_batch``: several images in one optimisation, each exactly as on its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nst.arch import TINY, TORCHVISION, random_params
from nst.backend import get_backend
from nst.options.config import make_config
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


def test_each_image_of_a_batch_on_the_cpu_takes_the_very_steps_of_its_own_run(backend_name):
    """On the CPU a batch runs its images one after another inside the step, each rounding as
    alone, so even L-BFGS's line search, which turns a last-bit difference into another trial
    step, stays bit for bit."""
    backend = get_backend(backend_name)
    settings, spec, net, targets, inits = problem(backend, 3, optimizer="lbfgs")
    # Each image its own weights, as 'relative' resolves them per pair.
    specs = [replace(spec, content=tuple((l, w * (1 + k)) for l, w in spec.content)) for k in range(3)]
    batch = backend.start_batch(net, targets, inits, specs, settings)
    batched = [batch.advance(18), batch.advance(2)][-1]
    for k in range(3):
        alone = backend.start(net, targets[k], inits[k], specs[k], settings)
        alone.advance(18)
        losses = alone.advance(2)
        np.testing.assert_array_equal(batch.images()[k], alone.image())
        # JAX sums the weighted terms in another order inside the batch's loop.
        assert batched[k] == pytest.approx(losses, rel=1e-6)
    # Different images reach different losses: the batch is not one shared objective.
    assert len({round(b["total"], 3) for b in batched}) == 3


def torch_batched(net, targets, inits, specs, settings):
    """The accelerators' way (one batched evaluation for all images), run here on the CPU."""
    from nst.backends.torch.batch import TorchBatchOptimization

    device = net.torch_device
    return TorchBatchOptimization(net.module, targets, inits, specs, settings, device, sequential=False)


def test_a_batched_torch_evaluation_gives_each_image_its_own_loss_and_gradient():
    backend = get_backend("torch")
    settings, spec, net, targets, inits = problem(backend, 3, optimizer="lbfgs")
    specs = [replace(spec, content=tuple((l, w * (1 + k)) for l, w in spec.content)) for k in range(3)]
    batch = torch_batched(net, targets, inits, specs, settings)
    from nst.backends.torch.optim import TorchOptimization

    points = [member.pixels.detach().clone() for member in batch.members]
    answers = batch.batcher._evaluate(list(zip(batch.batched, points)))
    for member, point, (terms, grad) in zip(batch.members, points, answers):
        alone_terms, alone_grad = TorchOptimization.terms_and_gradient(member, point)
        for term, value in alone_terms.items():
            assert float(terms[term]) == pytest.approx(float(value), rel=1e-5)
        scale = float(alone_grad.abs().max())
        np.testing.assert_allclose(grad.numpy(), alone_grad.numpy(), rtol=1e-4, atol=1e-6 * scale)


def test_a_batched_torch_adam_follows_single_runs():
    # Adam's steps are smooth in its evaluations; L-BFGS's line search is not (above).
    backend = get_backend("torch")
    settings, spec, net, targets, inits = problem(backend, 3, optimizer="adam")
    batched = torch_batched(net, targets, inits, [spec] * 3, settings).advance(20)
    for k in range(3):
        alone = backend.start(net, targets[k], inits[k], spec, settings).advance(20)
        for term in ("content", "style", "total"):
            assert batched[k][term] == pytest.approx(alone[term], rel=1e-4)


def test_a_batched_torch_batch_of_one_takes_the_very_steps_of_a_single_run():
    """The same evaluations in the same order: each L-BFGS keeps its own history and line
    search, bit for bit (a batch of one runs the very convolutions of a single run)."""
    backend = get_backend("torch")
    settings, spec, net, targets, inits = problem(backend, 1, optimizer="lbfgs")
    batch = torch_batched(net, targets, inits, [spec], settings)
    alone = backend.start(net, targets[0], inits[0], spec, settings)
    for _ in range(4):
        assert batch.advance(5)[0] == alone.advance(5)
    np.testing.assert_array_equal(batch.images()[0], alone.image())
    assert batch.members[0].evaluations == alone.evaluations


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
