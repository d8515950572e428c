"""nst.color on its own: colour spaces, statistics matching, and the driver's two entry points."""

from __future__ import annotations

import numpy as np
import pytest

from nst import color


def _correlated_image(mean, mixing, seed, shape=(64, 64)) -> np.ndarray:
    """Gaussian pixels with the given mean and a covariance of mixing @ mixing.T."""
    noise = np.random.default_rng(seed).standard_normal((*shape, 3))
    return (np.asarray(mean) + noise @ np.asarray(mixing).T).astype(np.float32)


# Narrow distributions near the middle, so clipping to [0, 1] does not alter the statistics.
SOURCE = _correlated_image([0.3, 0.5, 0.6], [[0.05, 0, 0], [0.03, 0.04, 0], [0, 0.02, 0.03]], 0)
TARGET = _correlated_image([0.6, 0.4, 0.3], [[0.06, 0.02, 0], [0, 0.03, 0], [0.02, 0, 0.05]], 1)


def _assert_unit_image(image, shape):
    assert image.shape == shape and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


# ----------------------------------------------------------------------------- colour spaces


def test_rgb_yiq_rgb_round_trip():
    image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(image)), image, atol=1e-6)


def test_yiq_rgb_yiq_round_trip():
    yiq = color.rgb_to_yiq(np.random.default_rng(1).random((9, 7, 3), dtype=np.float32))
    np.testing.assert_allclose(color.rgb_to_yiq(color.yiq_to_rgb(yiq)), yiq, atol=1e-6)


def test_yiq_of_grays_has_no_chrominance():
    gray = np.linspace(0, 1, 5, dtype=np.float32)[:, None].repeat(3, axis=1)
    yiq = color.rgb_to_yiq(gray)
    np.testing.assert_allclose(yiq[:, 0], gray[:, 0], atol=1e-6)
    np.testing.assert_allclose(yiq[:, 1:], 0.0, atol=1e-6)


def test_luminance_is_the_y_of_yiq():
    image = np.random.default_rng(1).random((8, 9, 3), dtype=np.float32)
    luma = color.luminance(image)
    assert luma.shape == (8, 9)
    np.testing.assert_allclose(luma, color.rgb_to_yiq(image)[..., 0], atol=1e-6)


def test_gray_to_rgb_repeats_the_channel():
    gray = np.random.default_rng(2).random((4, 5), dtype=np.float32)
    rgb = color.gray_to_rgb(gray)
    assert rgb.shape == (4, 5, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray)


# ---------------------------------------------------------------------- statistics matching


def test_match_color_histogram_gives_the_target_mean_and_covariance():
    matched = color.match_color_histogram(SOURCE, TARGET)
    _assert_unit_image(matched, SOURCE.shape)
    pixels, target_pixels = matched.reshape(-1, 3), TARGET.reshape(-1, 3)
    np.testing.assert_allclose(pixels.mean(0), target_pixels.mean(0), atol=1e-4)
    np.testing.assert_allclose(np.cov(pixels, rowvar=False), np.cov(target_pixels, rowvar=False), atol=2e-5)


def test_match_color_histogram_keeps_the_source_structure():
    # An affine map of colours: the matched image is still the source's picture, pixel for pixel.
    matched = color.match_color_histogram(SOURCE, TARGET)
    correlation = np.corrcoef(color.luminance(matched).ravel(), color.luminance(SOURCE).ravel())[0, 1]
    assert correlation > 0.5


def test_match_color_histogram_of_a_flat_image_stays_finite():
    flat = np.full((8, 8, 3), 0.5, dtype=np.float32)
    target = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    matched = color.match_color_histogram(flat, target)
    assert np.isfinite(matched).all()
    np.testing.assert_allclose(matched.mean((0, 1)), target.mean((0, 1)), atol=1e-5)


def test_match_luminance_gives_the_target_mean_and_std():
    source, target = color.luminance(SOURCE), color.luminance(TARGET)
    matched = color.match_luminance(source, target)
    assert matched.shape == source.shape and matched.dtype == np.float32
    assert matched.mean() == pytest.approx(target.mean(), abs=1e-4)
    assert matched.std() == pytest.approx(target.std(), rel=1e-2)  # the floor shifts it slightly


def test_match_luminance_of_a_flat_image_stays_finite():
    matched = color.match_luminance(np.full((6, 6), 0.2), np.random.default_rng(3).random((6, 6)))
    assert np.isfinite(matched).all()


# ------------------------------------------------------------------------- the driver's use


def test_transfer_inputs_style_mode_changes_nothing():
    content, styles = color.transfer_inputs("style", SOURCE, [TARGET])
    assert content is SOURCE and styles[0] is TARGET


def test_transfer_inputs_histogram_recolours_each_style_to_the_content():
    content, styles = color.transfer_inputs("histogram", SOURCE, [TARGET, TARGET[::-1]])
    assert content is SOURCE and len(styles) == 2
    for style in styles:
        np.testing.assert_allclose(style.reshape(-1, 3).mean(0), SOURCE.reshape(-1, 3).mean(0), atol=1e-4)


def test_transfer_inputs_luminance_gives_grey_images_with_matched_styles():
    content, (style,) = color.transfer_inputs("luminance", SOURCE, [TARGET])
    for grey in (content, style):
        _assert_unit_image(grey, SOURCE.shape)
        np.testing.assert_allclose(color.rgb_to_yiq(grey)[..., 1:], 0.0, atol=1e-6)
    np.testing.assert_allclose(content[..., 0], color.luminance(SOURCE), atol=1e-6)
    assert style[..., 0].mean() == pytest.approx(content[..., 0].mean(), abs=1e-4)
    assert style[..., 0].std() == pytest.approx(content[..., 0].std(), rel=1e-2)


def test_transfer_inputs_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="sepia"):
        color.transfer_inputs("sepia", SOURCE, [TARGET])


def test_restore_content_colors_takes_y_from_the_image_and_iq_from_the_content():
    stylized = np.random.default_rng(4).random(SOURCE.shape, dtype=np.float32)
    restored = color.restore_content_colors("luminance", stylized, SOURCE)
    yiq = color.rgb_to_yiq(restored)
    np.testing.assert_allclose(yiq[..., 0], color.luminance(stylized), atol=1e-5)
    np.testing.assert_allclose(yiq[..., 1:], color.rgb_to_yiq(SOURCE)[..., 1:], atol=1e-5)


@pytest.mark.parametrize("mode", ["style", "histogram"])
def test_restore_content_colors_leaves_other_modes_alone(mode):
    stylized = np.random.default_rng(5).random(SOURCE.shape, dtype=np.float32)
    assert color.restore_content_colors(mode, stylized, SOURCE) is stylized
