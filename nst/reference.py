"""A plain numpy oracle of the objective (see ``LossSpec``), in float64, for tests.

Features are C x H x W arrays of one image; images are H x W x 3 in [0, 1].
"""

from __future__ import annotations

import numpy as np

from nst.objective import LossSpec


def style_normaliser(squared: float, channels: int, normalization: str) -> float:
    """LossSpec's scaling of a squared style error, written out independently of the backends'."""
    return squared / channels**4 if normalization == "mse" else squared / (4 * channels**2)


def gram(features: np.ndarray) -> np.ndarray:
    """G = F F^T / M with F the C x M feature matrix."""
    f = np.asarray(features, np.float64).reshape(features.shape[0], -1)
    return f @ f.T / f.shape[1]


GUIDE_FLOOR = 1e-8  # as the backends: a guide pooled away to nothing skips its region


def guided_gram(features: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """sum_p g(p)^2 F_p F_p^T / sum_p g(p)^2 with F the C x M feature matrix, g an H x W guide."""
    f = np.asarray(features, np.float64).reshape(features.shape[0], -1)
    weights = np.asarray(guide, np.float64).ravel() ** 2
    return (f * weights) @ f.T / max(weights.sum(), GUIDE_FLOOR)


def guided_style_loss(
    features: np.ndarray, guides: np.ndarray, target_grams: np.ndarray, region_weights, normalization: str
) -> float:
    """Sum over styles s of region_weights[s] * the Gram loss of the s-guided Grams."""
    channels = features.shape[0]
    squared = sum(
        w * float(np.sum((guided_gram(features, g) - a) ** 2))
        for w, g, a in zip(region_weights, guides, target_grams)
    )
    return style_normaliser(squared, channels, normalization)


def guided_targets(style_features: list[dict[str, np.ndarray]], guides, spec: LossSpec) -> dict:
    """Per style layer, the S guided Grams of the style images under their own guides."""
    return {
        layer: np.stack([guided_gram(f[layer], g[layer]) for f, g in zip(style_features, guides.styles)])
        for layer, _ in spec.style
    }


def mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mu = F 1 / M and S = (F - mu)(F - mu)^T / M with F the C x M feature matrix."""
    f = np.asarray(features, np.float64).reshape(features.shape[0], -1)
    mean = f.mean(axis=1)
    centred = f - mean[:, None]
    return mean, centred @ centred.T / f.shape[1]


def style_loss(features: np.ndarray, target, normalization: str, style_loss: str = "gram") -> float:
    channels = features.shape[0]
    if style_loss == "meancov":
        mean, cov = mean_cov(features)
        mean_sq = float(np.sum((mean - target[0]) ** 2))
        cov_sq = float(np.sum((cov - target[1]) ** 2))
        combined = 2 * channels * mean_sq + cov_sq
        return style_normaliser(combined, channels, normalization)
    squared = float(np.sum((gram(features) - target) ** 2))
    return style_normaliser(squared, channels, normalization)


def content_loss(features: np.ndarray, target: np.ndarray, normalization: str) -> float:
    diff = np.asarray(features, np.float64) - target
    return float(np.mean(diff**2)) if normalization == "mse" else 0.5 * float(np.sum(diff**2))


def tv_loss(image: np.ndarray) -> float:
    x = np.asarray(image, np.float64)
    dy = np.sum((x[1:] - x[:-1]) ** 2)
    dx = np.sum((x[:, 1:] - x[:, :-1]) ** 2)
    return float((dx + dy) / x.size)


def temporal_loss(image: np.ndarray, previous: np.ndarray, confidence: np.ndarray) -> float:
    """sum_p c(p) ||x(p) - w(p)||^2 / (H*W*3): H x W x 3 images, an H x W confidence."""
    diff = np.asarray(image, np.float64) - previous
    return float(np.sum(np.asarray(confidence, np.float64)[..., None] * diff**2) / diff.size)


def blended_grams(style_features: list[dict[str, np.ndarray]], spec: LossSpec) -> dict[str, np.ndarray]:
    """The style target of each layer: the blend-weighted sum of the styles' Grams."""
    return {
        layer: np.sum([w * gram(f[layer]) for w, f in zip(spec.style_blend, style_features)], axis=0)
        for layer, _ in spec.style
    }


def blended_mean_covs(
    style_features: list[dict[str, np.ndarray]], spec: LossSpec
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 'meancov' style target of each layer: blend-weighted sums of the styles' means and
    of their covariances."""
    out = {}
    for layer, _ in spec.style:
        stats = [mean_cov(f[layer]) for f in style_features]
        out[layer] = (
            np.sum([w * m for w, (m, _) in zip(spec.style_blend, stats)], axis=0),
            np.sum([w * c for w, (_, c) in zip(spec.style_blend, stats)], axis=0),
        )
    return out


def style_targets(style_features: list[dict[str, np.ndarray]], spec: LossSpec) -> dict:
    """The blended style target of each layer for ``spec.style_loss``."""
    if spec.style_loss == "meancov":
        return blended_mean_covs(style_features, spec)
    return blended_grams(style_features, spec)


def loss_terms(
    features: dict[str, np.ndarray],
    content_features: dict[str, np.ndarray],
    style_targets: dict,
    image: np.ndarray,
    spec: LossSpec,
    guides=None,
    temporal: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """``style_targets``: per layer a Gram, or a (mean, covariance) pair for 'meancov', or
    with ``guides`` (``nst.masks.Guides``) the S guided Grams of ``guided_targets``;
    ``temporal``: (warped previous output, confidence) when ``spec.temporal``."""
    content = sum(
        w * content_loss(features[l], content_features[l], spec.normalization) for l, w in spec.content
    )
    if guides is not None:
        style = sum(
            w
            * guided_style_loss(
                features[l], guides.output[l], style_targets[l], guides.weights, spec.normalization
            )
            for l, w in spec.style
        )
    else:
        style = sum(
            w * style_loss(features[l], style_targets[l], spec.normalization, spec.style_loss)
            for l, w in spec.style
        )
    tv = spec.tv * tv_loss(image) if spec.tv else 0.0
    if not spec.temporal:
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}
    assert temporal is not None, "spec.temporal needs the (previous, confidence) pair"
    term = spec.temporal * temporal_loss(image, *temporal)
    return {
        "content": content,
        "style": style,
        "tv": tv,
        "temporal": term,
        "total": content + style + tv + term,
    }
