"""--normalization relative (each term over its value for zero features) and --init recolored."""

from __future__ import annotations

import numpy as np
import pytest

from nst import color, reference
from nst.objective import (
    MOST_PHOTO_ROUGHER,
    contrast,
    resolved,
    statistics_of,
    term_baselines,
    total_variation,
)
from nst.options.config import make_config
from nst.stylize import StyleTransfer
from tests.helpers import smooth_image, tiny_weights_file

LAYERS = {"content_layers": ("relu2_1",), "style_layers": ("relu1_1", "relu2_1")}


def random_features(seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"relu1_1": scale * rng.random((4, 6, 8)), "relu2_1": scale * rng.random((8, 3, 4))}


def relative_terms(scale: float) -> dict[str, float]:
    """The oracle's loss terms of one image under 'relative', with every feature times ``scale``."""
    spec = make_config(normalization="relative", style_weight=3.0, tv_weight=0.0, **LAYERS).loss_spec(2)
    content, style_a, style_b, image = (random_features(seed, scale) for seed in range(4))
    features = {0: content, 1: style_a, 2: style_b}
    spec = resolved(spec, lambda image: statistics_of(features[image]), 0, [1, 2])
    targets = reference.style_targets([style_a, style_b], spec)
    return reference.loss_terms(image, content, targets, np.zeros((4, 4, 3)), spec)


def test_term_scales_are_each_terms_value_for_zero_features():
    spec = make_config(normalization="relative", **LAYERS).loss_spec(2)
    content, style_a, style_b = (random_features(seed) for seed in range(3))
    scales = term_baselines(statistics_of(content), [statistics_of(style_a), statistics_of(style_b)], spec)
    zeros = {l: np.zeros_like(f) for l, f in content.items()}
    targets = reference.style_targets([style_a, style_b], spec)
    for layer in LAYERS["content_layers"]:
        expected = reference.content_loss(zeros[layer], content[layer], "mse")
        assert scales.content[layer] == pytest.approx(expected, rel=1e-12)
    for layer in LAYERS["style_layers"]:
        expected = reference.style_loss(zeros[layer], targets[layer], "mse")
        assert scales.style[layer] == pytest.approx(expected, rel=1e-12)


def test_total_variation_is_the_mean_squared_neighbour_difference():
    image = np.zeros((2, 3, 3))
    image[1] = 1.0  # one row of edges: 3 columns x 3 channels, each a difference of 1
    assert total_variation(image) == pytest.approx(9 / 18)
    assert total_variation(np.full((4, 4, 3), 0.7)) == 0


def test_contrast_is_the_mean_channel_variance():
    image = np.zeros((2, 2, 3))
    image[0, :, 0] = 1.0  # channel 0 half ones: variance 1/4; the others flat
    assert contrast(image) == pytest.approx(0.25 / 3)
    assert contrast(np.full((4, 4, 3), 0.7)) == pytest.approx(0, abs=1e-20)


def _relative_tv(photo, styles, blend=None, tv_weight=5.0):
    cfg = make_config(normalization="relative", tv_weight=tv_weight, style_blend=blend, **LAYERS)
    features = random_features(0)
    return resolved(cfg.loss_spec(len(styles)), lambda image: statistics_of(features), photo, styles).tv


def roughness_of(image):
    return total_variation(image) / contrast(image)


def test_relative_tv_scales_with_the_paintings_and_the_photos_roughness():
    # The TV term is the output's roughness over the painting's, times the square of how many
    # times rougher the photo is, each in units of its own contrast: a flat painting's style is
    # smoothed much more than a busy one's strokes.
    rng = np.random.default_rng(0)
    rough, smooth, photo = rng.random((16, 16, 3)), smooth_image(16, 16, 1), smooth_image(16, 16, 2)
    assert total_variation(rough) > 10 * total_variation(smooth)
    for style in (rough, smooth):
        photo_rougher = roughness_of(photo) / roughness_of(style)
        expected = 5.0 / total_variation(style) * photo_rougher**2
        assert _relative_tv(photo, [style]) == pytest.approx(expected)
    assert _relative_tv(photo, [smooth]) > 100 * _relative_tv(photo, [rough])
    blended = _relative_tv(photo, [rough, smooth], blend=(3.0, 1.0))
    painting = 0.75 * total_variation(rough) + 0.25 * total_variation(smooth)
    painting_contrast = 0.75 * contrast(rough) + 0.25 * contrast(smooth)
    photo_rougher = roughness_of(photo) / (painting / painting_contrast)
    assert blended == pytest.approx(5.0 / painting * photo_rougher**2)
    absolute = make_config(normalization="mse", tv_weight=5.0, **LAYERS).loss_spec(1)
    assert resolved(absolute, None, rough, [rough]).tv == 5.0


def test_a_dark_low_contrast_painting_is_not_taken_for_a_flat_one():
    # The same strokes at a third of the contrast: the output's roughness still counts in the
    # painting's own units (TV / 9), but the painting is no smoother than before, so the TV
    # weight grows 9 times, not the 81 times its squared TV would give.
    rng = np.random.default_rng(1)
    painting, photo = 0.2 + 0.6 * smooth_image(32, 32, 3), rng.random((32, 32, 3))
    dark = 0.1 + (painting - 0.2) / 3
    assert roughness_of(dark) == pytest.approx(roughness_of(painting))
    assert _relative_tv(photo, [dark]) / _relative_tv(photo, [painting]) == pytest.approx(9.0)


def test_a_grainy_photo_on_a_flat_painting_does_not_drown_the_style():
    # Noise is far rougher than two flat fields of colour; the ratio stops at
    # MOST_PHOTO_ROUGHER, so the TV weight stays that many squared times the painting's own.
    grain = 0.5 + 0.08 * np.random.default_rng(2).standard_normal((32, 32, 3))
    flat = np.concatenate([np.full((32, 16, 3), 0.9), np.full((32, 16, 3), 0.1)], axis=1)
    assert roughness_of(grain) / roughness_of(flat) > 5 * MOST_PHOTO_ROUGHER
    expected = 5.0 / total_variation(flat) * MOST_PHOTO_ROUGHER**2
    assert _relative_tv(grain, [flat]) == pytest.approx(expected)


def test_relative_terms_do_not_depend_on_the_features_scale():
    # One setting for any network: a network whose features are 1000x larger (another
    # preprocessing, another set of weights) gets the same objective.
    plain, scaled = relative_terms(1.0), relative_terms(1000.0)
    for term in ("content", "style", "total"):
        assert scaled[term] == pytest.approx(plain[term], rel=1e-9)
    assert plain["style"] > 0 and plain["content"] > 0


def test_the_driver_resolves_relative_per_scale_and_the_backend_sees_mse(tmp_path, backend_name):
    weights = str(tiny_weights_file(tmp_path))
    content, style = smooth_image(40, 56, 1), smooth_image(48, 48, 2)
    transfer = StyleTransfer(
        make_config(weights=weights, size=48, normalization="relative", style_weight=5.0, **LAYERS),
        backend_name,
    ).prepare(content, [style])
    spec = transfer.scale.spec
    assert spec.normalization == "mse" and transfer.spec.normalization == "relative"
    # At the content photo the content term is 0; each style term is its relative Gram error.
    photo = transfer.scale.content_input
    terms = transfer.backend.loss_terms(transfer.net, transfer.scale.targets, photo, spec)
    features = transfer.net.features(photo)
    targets = transfer.net.features(transfer.scale.styles[0])
    relative_errors = [
        np.sum((reference.gram(features[l]) - reference.gram(targets[l])) ** 2)
        / np.sum(reference.gram(targets[l]) ** 2)
        for l in LAYERS["style_layers"]
    ]
    assert terms["content"] == pytest.approx(0.0, abs=1e-6)
    assert terms["style"] == pytest.approx(5.0 * np.mean(relative_errors), rel=1e-4)


def test_blended_colour_statistics_are_those_of_the_pooled_pixels():
    a, b = smooth_image(20, 30, 3), smooth_image(20, 30, 4) * 0.5
    mean, cov = color.blended_color_statistics([a, b], [0.5, 0.5])
    pooled = np.concatenate([a.reshape(-1, 3), b.reshape(-1, 3)]).astype(np.float64)
    np.testing.assert_allclose(mean, pooled.mean(0), rtol=1e-10)
    # Each image's covariance is the unbiased one, so the mixture matches to about 1 / pixels.
    np.testing.assert_allclose(cov, np.cov(pooled, rowvar=False), rtol=1e-2, atol=1e-6)


def test_recolored_init_is_the_photo_in_the_styles_colours(tmp_path, backend_name):
    weights = str(tiny_weights_file(tmp_path))
    content = smooth_image(40, 56, 1)
    style = (smooth_image(48, 48, 2) * np.array([0.3, 0.2, 0.9]) + [0.1, 0.0, 0.05]).astype(np.float32)
    transfer = StyleTransfer(make_config(weights=weights, size=56, init="recolored"), backend_name)
    init = transfer.prepare(content, [style]).initial_image()
    init_mean, init_cov = color.color_statistics(init)
    style_mean, style_cov = color.color_statistics(transfer.scale.styles[0])
    np.testing.assert_allclose(init_mean, style_mean, atol=0.02)
    # Clipping to [0, 1] trims a little where the affine map overshoots.
    np.testing.assert_allclose(init_cov, style_cov, rtol=0.05, atol=1e-3)
    # The layout stays the photo's: the recoloured init follows the content's luminance.
    correlation = np.corrcoef(color.luminance(init).ravel(), color.luminance(content).ravel())[0, 1]
    assert correlation > 0.9
    assert transfer.cfg.scale_sizes == (56,)  # below 362 px: one scale
