"""--normalize-network: the paper's normalised VGG, on both backends with the tiny random VGG."""

from __future__ import annotations

import numpy as np
import pytest

from nst.arch import TINY, TORCHVISION, random_params
from nst.backend import get_backend
from nst.normalize import mean_activations, normalize_params, rescale
from nst.options.config import make_config
from nst.stylize import StyleTransfer
from tests.helpers import tiny_weights_file

LAYERS = ("relu1_1", "relu3_1", "relu4_2")  # deepest relu4_2: normalises conv1_1 .. conv4_2
RELUS = tuple(name for name in TINY.cut(LAYERS) if name.startswith("relu"))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return [rng.random(shape, dtype=np.float32) for shape in ((40, 56, 3), (48, 48, 3))]


def original_and_normalised(backend_name, images, pooling):
    backend = get_backend(backend_name)
    params = random_params(TINY, seed=2)
    normalised = normalize_params(backend, params, TINY, TORCHVISION, images, LAYERS, pooling, "cpu")
    load = lambda p: backend.load_network(p, TINY, TORCHVISION, RELUS, pooling, "cpu")  # noqa: E731
    return load(params), load(normalised)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_normalised_mean_activations_are_one(backend_name, images, pooling):
    original, normalised = original_and_normalised(backend_name, images, pooling)
    before, after = mean_activations(original, images), mean_activations(normalised, images)
    assert set(after) == set(RELUS)
    for layer in RELUS:
        alive = before[layer] > 0
        assert alive.any(), layer
        np.testing.assert_allclose(after[layer][alive], 1.0, atol=1e-4, err_msg=layer)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_activations_are_the_original_divided_by_the_means(backend_name, images, pooling):
    original, normalised = original_and_normalised(backend_name, images, pooling)
    means = mean_activations(original, images)
    for image in images:
        before, after = original.features(image), normalised.features(image)
        for layer in RELUS:
            scale = np.where(means[layer] > 0, means[layer], 1.0)[:, None, None]
            expected = before[layer] / scale
            assert np.abs(after[layer] - expected).max() <= 1e-4 * np.abs(expected).max(), layer


def test_a_dead_channel_and_unmeasured_convs_keep_their_scale():
    params = random_params(TINY, seed=2)
    means = {"relu1_1": np.array([0.0, 2.0, 4.0, 0.5]), "relu1_2": np.full(4, 2.0)}
    out = rescale(params, TINY, means)
    np.testing.assert_array_equal(out["conv1_1.weight"][0], params["conv1_1.weight"][0])
    np.testing.assert_allclose(out["conv1_1.bias"][1:], params["conv1_1.bias"][1:] / [2.0, 4.0, 0.5])
    # conv2_1's relu was not measured: its outputs keep their scale, its inputs undo relu1_2's.
    np.testing.assert_allclose(out["conv2_1.weight"], params["conv2_1.weight"] * 2.0, rtol=1e-6)
    np.testing.assert_array_equal(out["conv2_1.bias"], params["conv2_1.bias"])
    np.testing.assert_array_equal(out["conv2_2.weight"], params["conv2_2.weight"])


def test_the_driver_optimises_with_the_normalised_network(backend_name, images, tmp_path):
    weights = str(tiny_weights_file(tmp_path))
    messages = []
    nets = {}
    for normalize in (False, True):
        cfg = make_config(size=48, iterations=2, weights=weights, normalize_network=normalize)
        transfer = StyleTransfer(cfg, backend_name, log=messages.append).prepare(images[0], [images[1]])
        assert np.isfinite(transfer.run().image).all()
        nets[normalize] = mean_activations(transfer.net, [transfer.scale.content, *transfer.scale.styles])
    assert any("normalised the network" in m for m in messages)
    alive = nets[False]["relu4_2"] > 0
    np.testing.assert_allclose(nets[True]["relu4_2"][alive], 1.0, atol=1e-4)
    assert not np.allclose(nets[False]["relu4_2"][alive], 1.0, atol=1e-2)
