"""--optimizer adam on both backends follows Adam's update with --adam-beta2.

With the tiny random VGG cut after block 2, each backend's Adam iterates are compared with
Adam written out in NumPy on that backend's own gradients (``loss_gradient``).
"""

from __future__ import annotations

import numpy as np
import pytest

from nst.backend import get_backend
from nst.options.run_settings import ADAM_BETA1
from tests.conftest import installed_backends
from tests.helpers import tiny_problem

STEPS = 5
# torch.optim.Adam's and optax.adam's epsilon, added to the root of the second moment.
EPSILON = 1e-8


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return {name: rng.random((24, 32, 3), dtype=np.float32) for name in ("content", "style")}


def numpy_adam(gradient, start, lr, beta2, steps):
    """The iterates of Adam (bias-corrected moments, epsilon outside the root)."""
    x = start.astype(np.float64)
    m, v, iterates = np.zeros_like(x), np.zeros_like(x), []
    for t in range(1, steps + 1):
        g = gradient(x.astype(np.float32)).astype(np.float64)
        m = ADAM_BETA1 * m + (1 - ADAM_BETA1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - ADAM_BETA1**t), v / (1 - beta2**t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + EPSILON)
        iterates.append(x)
    return iterates


@pytest.mark.parametrize("backend_name", installed_backends())
def test_adam_iterates_follow_the_update_with_the_given_beta2(backend_name, images):
    backend, references = get_backend(backend_name), {}
    for beta2 in (0.5, 0.999):
        cfg, spec, net, targets = tiny_problem(
            backend, images, optimizer="adam", adam_beta2=beta2, style_weight=1e4
        )

        def gradient(x, net=net, targets=targets, spec=spec):
            return backend.loss_gradient(net, targets, x, spec)

        references[beta2] = numpy_adam(gradient, images["content"], cfg.step_size, beta2, STEPS)
        run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
        for step in range(STEPS):
            run.advance(1)
            assert np.abs(run.image() - references[beta2][step]).max() <= 1e-5, f"step {step + 1}"
    # The two decays lead to different iterates: the comparison above can tell them apart.
    assert np.abs(references[0.5][-1] - references[0.999][-1]).max() > 1e-3
