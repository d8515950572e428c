"""The torch backend's L-BFGS (backends/torch/lbfgs.py) against torch.optim.LBFGS."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nst.arch import VGG16  # noqa: E402
from nst.backend import get_backend  # noqa: E402
from nst.backends.torch.arrays import to_tensor  # noqa: E402
from nst.backends.torch.lbfgs import DeviceLBFGS, cubic_minimum  # noqa: E402
from nst.backends.torch.optim import TorchOptimization  # noqa: E402
from nst.objective import LINESEARCH_EVALUATIONS  # noqa: E402
from nst.options.config import make_config  # noqa: E402

from .helpers import smooth_image, tiny_problem  # noqa: E402


def torch_lbfgs_iterates(run: TorchOptimization, steps: int, history: int) -> tuple[list[np.ndarray], float]:
    """torch.optim.LBFGS's iterates (one per step) and final loss on ``run``'s objective."""
    pixels = run.pixels.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [pixels],
        lr=1,
        max_iter=1,
        max_eval=LINESEARCH_EVALUATIONS + 1,
        history_size=history,
        line_search_fn="strong_wolfe",
        tolerance_grad=-1,
    )
    losses = []

    def closure():
        terms, grad = run.terms_and_gradient(pixels)
        pixels.grad = grad
        losses.append(float(terms["total"]))
        return terms["total"]

    iterates = []
    for _ in range(steps):
        optimizer.step(closure)
        iterates.append(pixels.detach().clone().numpy())
    closure()
    return iterates, losses[-1]


def device_lbfgs_iterates(run: TorchOptimization, steps: int) -> tuple[list[np.ndarray], float]:
    iterates = []
    for _ in range(steps):
        run.advance(1)
        iterates.append(run.pixels.detach().clone().numpy())
    return iterates, float(run.last_terms["total"])


@pytest.mark.parametrize("history", [50, 3])
def test_the_iterates_are_torch_lbfgs_iterates_on_the_tiny_network(history):
    # A history of 3 wraps the ring several times in 20 steps.
    backend = get_backend("torch")
    images = {"content": smooth_image(24, 32, seed=0), "style": smooth_image(32, 32, seed=1)}
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="lbfgs", lbfgs_history=history)
    init = smooth_image(24, 32, seed=2)
    reference, _ = torch_lbfgs_iterates(
        backend.start(net, targets, init, spec, cfg.run_settings()), 20, history
    )
    ours, _ = device_lbfgs_iterates(backend.start(net, targets, init, spec, cfg.run_settings()), 20)
    start = to_tensor(init, torch.device("cpu")).numpy()
    for step, (expected, got) in enumerate(zip(reference, ours)):
        moved = np.abs(expected - start).max()
        assert np.abs(got - expected).max() <= 1e-3 * moved, f"step {step + 1}"


def test_the_final_loss_is_torch_lbfgs_final_loss_on_the_offline_vgg16():
    from nst.weights import load_weights

    weights = load_weights("vgg16-offline", progress=False)
    backend = get_backend("torch")
    cfg = make_config(size=48, normalization="mse")
    spec = cfg.loss_spec(1)
    net = backend.load_network(weights.params, VGG16, weights.preprocess, spec.layers, "max", "cpu")
    content, style, init = smooth_image(48, 64, 1), smooth_image(56, 56, 2), smooth_image(48, 64, 3)
    targets = backend.prepare_targets(net, content, [style], spec)
    settings = cfg.run_settings()
    _, reference = torch_lbfgs_iterates(backend.start(net, targets, init, spec, settings), 100, 50)
    run = backend.start(net, targets, init, spec, settings)
    run.advance(100)
    start = backend.loss_terms(net, targets, init, spec)["total"]
    assert reference < 0.5 * start
    assert float(run.last_terms["total"]) == pytest.approx(reference, rel=0.02)


def test_a_step_reads_the_device_once_per_evaluation(monkeypatch):
    # The direction and the history update stay on the device; the line search reads one
    # packed tensor per evaluation (the module's docstring).
    backend = get_backend("torch")
    images = {"content": smooth_image(24, 32, seed=0), "style": smooth_image(32, 32, seed=1)}
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="lbfgs")
    run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
    run.advance(3)
    reads = []
    for name in ("tolist", "item", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(
            torch.Tensor, name, lambda self, *a, _name=name, _f=original: reads.append(_name) or _f(self, *a)
        )
    before = run.evaluations
    run.lbfgs.step()
    monkeypatch.undo()
    assert reads == ["tolist"] * (run.evaluations - before)


def test_a_direction_that_does_not_descend_leaves_the_image_as_it_is():
    # At a minimum the gradient vanishes: torch's L-BFGS stops there, so does this one.
    x = torch.zeros(4)

    def evaluate(point):
        return {"total": (point**2).sum()}, 2 * point

    lbfgs = DeviceLBFGS(x, evaluate, history=5, lr=1.0)
    for _ in range(3):
        lbfgs.step()
    assert torch.equal(x, torch.zeros(4))
    assert lbfgs.evaluations == 2  # the start, and the one trial that showed no descent


def test_the_cubic_minimum_is_the_minimum_of_a_cubic():
    # f(t) = (t - 1)^3 - 3 (t - 1) has its local minimum at t = 2.
    def f(t):
        return (t - 1) ** 3 - 3 * (t - 1)

    def g(t):
        return 3 * (t - 1) ** 2 - 3

    assert cubic_minimum(0.5, f(0.5), g(0.5), 3.0, f(3.0), g(3.0)) == pytest.approx(2.0)
    assert cubic_minimum(0.5, f(0.5), g(0.5), 3.0, f(3.0), g(3.0), bounds=(0.5, 1.5)) == 1.5


@pytest.mark.parametrize("history", [8, 3])
def test_the_direction_in_device_order_is_the_direction_bit_for_bit(history):
    # The form a CUDA graph captures: every slot, in an order computed on the device. After 5
    # steps a history of 8 has empty slots and one of 3 has wrapped.
    backend = get_backend("torch")
    images = {"content": smooth_image(24, 32, seed=0), "style": smooth_image(32, 32, seed=1)}
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="lbfgs", lbfgs_history=history)
    run = backend.start(net, targets, smooth_image(24, 32, seed=2), spec, cfg.run_settings())
    run.advance(5)
    grad = run.lbfgs._grad
    assert torch.equal(run.lbfgs._direction_in_device_order(grad), run.lbfgs._direction(grad))
