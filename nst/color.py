"""Colour control, after Gatys, Bethge, Hertzmann & Shechtman 2017, "Controlling Perceptual
Factors in Neural Style Transfer" (section 5), in numpy only.

Images are nst images: float32 H x W x 3, RGB in [0, 1]. Three modes (``--colors``):
  style      the style image's colours are transferred with its texture (Gatys et al. 2016);
  histogram  each style image is first recoloured to the content's RGB mean and covariance;
  luminance  the optimisation sees luminance only (content and style as grey images, the
             style's luminance matched to the content's mean and std); the result's luminance
             is then put back together with the content's chrominance.
``transfer_inputs`` prepares the images the optimisation sees; ``restore_content_colors``
turns an optimised image into the one the user gets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COLOR_MODES = ("style", "luminance", "histogram")

# NTSC YIQ (FCC 1953 coefficients). Y is the Rec. 601 luma; the paper uses YIQ for the same
# reason: I and Q carry the colour, Y the intensity, independently.
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)

# Added to the source covariance before inverting it: the variance of 8-bit quantisation noise,
# (1/255)^2 / 12, so a flat (singular) image stays finite and real images are barely affected.
_COVARIANCE_FLOOR = (1 / 255) ** 2 / 12


# ------------------------------------------------------------------------------ colour spaces


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """RGB -> YIQ: Y (luminance) in [0, 1], I and Q (chrominance) about zero."""
    return (np.asarray(image, dtype=np.float64) @ _RGB_TO_YIQ.T).astype(np.float32)


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    """YIQ -> RGB, the exact inverse of ``rgb_to_yiq`` (not clipped)."""
    return (np.asarray(image, dtype=np.float64) @ _YIQ_TO_RGB.T).astype(np.float32)


def luminance(image: np.ndarray) -> np.ndarray:
    """The H x W luminance (YIQ's Y) of an RGB image."""
    return (np.asarray(image, dtype=np.float64) @ _RGB_TO_YIQ[0]).astype(np.float32)


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """An H x W luminance as a grey H x W x 3 image (the network takes three channels)."""
    return np.repeat(np.asarray(gray, dtype=np.float32)[..., None], 3, axis=-1)


# --------------------------------------------------------------------------- statistics matching


def match_color_histogram(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` recoloured so its RGB mean and covariance match ``target``'s.

    An affine map x -> A (x - mu_s) + mu_t with A = C_t^(1/2) C_s^(-1/2), both matrix square
    roots symmetric, from eigendecompositions (``eigh``): the "image analogies" variant of the
    paper's colour histogram matching. Cholesky roots would match the statistics as well, but
    depend on the order of the colour channels; the symmetric root does not.
    The result is clipped to [0, 1], which perturbs the statistics only where the map overshoots.
    """
    return recolor(source, *color_statistics(target))


def color_statistics(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The RGB mean (3) and covariance (3 x 3) of an image's pixels."""
    pixels = np.asarray(image, dtype=np.float64).reshape(-1, 3)
    return pixels.mean(0), np.cov(pixels, rowvar=False)


def blended_color_statistics(
    images: Sequence[np.ndarray], weights: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the mixture of the images' pixels, image i drawn with weight
    ``weights[i]`` (the weights sum to 1): the colours of a blend of style images."""
    stats = [color_statistics(image) for image in images]
    mean = sum((w * m for w, (m, _) in zip(weights, stats)), np.zeros(3))
    second = sum((w * (c + np.outer(m, m)) for w, (m, c) in zip(weights, stats)), np.zeros((3, 3)))
    return mean, second - np.outer(mean, mean)


def recolor(source: np.ndarray, target_mean: np.ndarray, target_cov: np.ndarray) -> np.ndarray:
    """``source`` mapped affinely to the given RGB mean and covariance (see
    ``match_color_histogram``), clipped to [0, 1]."""
    source_mean, source_cov = color_statistics(source)
    source_cov = source_cov + _COVARIANCE_FLOOR * np.eye(3)
    transform = _symmetric_power(target_cov, 0.5) @ _symmetric_power(source_cov, -0.5)
    source_pixels = np.asarray(source, dtype=np.float64).reshape(-1, 3)
    matched = (source_pixels - source_mean) @ transform.T + target_mean
    return np.clip(matched, 0.0, 1.0).reshape(np.shape(source)).astype(np.float32)


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    eigenvalues = np.maximum(eigenvalues, 0.0)  # rounding can make a flat image's slightly negative
    return (eigenvectors * eigenvalues**power) @ eigenvectors.T


def match_luminance(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Luminance ``source`` (H x W) shifted and scaled to ``target``'s mean and std, the paper's
    L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c, clipped to [0, 1] (nst images stay in range).
    A flat source gets the floor of ``match_color_histogram`` so it stays finite."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    gain = target.std() / np.sqrt(source.var() + _COVARIANCE_FLOOR)
    matched = (source - source.mean()) * gain + target.mean()
    return np.clip(matched, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------- the driver's use


def transfer_inputs(
    mode: str, content: np.ndarray, styles: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content and style images the optimisation sees under colour ``mode``."""
    if mode == "style":
        return content, list(styles)
    if mode == "histogram":
        return content, [match_color_histogram(style, content) for style in styles]
    if mode == "luminance":
        content_luma = luminance(content)
        return gray_to_rgb(content_luma), [
            gray_to_rgb(match_luminance(luminance(style), content_luma)) for style in styles
        ]
    raise ValueError(f"unknown colour mode {mode!r}; choose from {', '.join(COLOR_MODES)}")


def restore_content_colors(mode: str, image: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The image the user gets from an optimised ``image``.

    ``luminance``: the Y of ``image`` with the I and Q of ``content``, back in RGB (not
    clipped, like every iterate; saving clips). Other modes: ``image`` unchanged.
    """
    if mode != "luminance":
        return image
    combined = rgb_to_yiq(content)
    combined[..., 0] = luminance(image)
    return yiq_to_rgb(combined)
