"""The objective of ``nst.objective.LossSpec`` in torch (formulas documented there)."""

from __future__ import annotations

import torch

from nst.objective import GUIDE_FLOOR, LossSpec, Targets, is_on, style_normaliser


def gram(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T / M for each image of an N x C x H x W batch -> N x C x C."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)  # fp32 even when the network ran in bf16
    return flat @ flat.transpose(1, 2) / (h * w)


def guided_grams(features: torch.Tensor, guides: torch.Tensor) -> torch.Tensor:
    """G_s = sum_p g_s(p)^2 F_p F_p^T / sum_p g_s(p)^2 for a 1 x C x H x W map and S x H x W
    guides -> S x C x C (fp32, as ``gram``)."""
    _, c, h, w = features.shape
    flat = features.float().reshape(c, h * w)
    weights = guides.reshape(guides.shape[0], h * w).pow(2)
    grams = (flat[None] * weights[:, None]) @ flat.T
    return grams / weights.sum(1).clamp_min(GUIDE_FLOOR)[:, None, None]


def guided_style_loss(
    features: torch.Tensor,
    guides: torch.Tensor,
    target_grams: torch.Tensor,
    region_weights: torch.Tensor,
    normalization: str,
) -> torch.Tensor:
    channels = features.shape[1]
    squared = (guided_grams(features, guides) - target_grams).pow(2).sum((1, 2))
    squared = (region_weights * squared).sum()
    return style_normaliser(squared, channels, normalization)


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (N x C) and covariance (N x C x C) of an N x C x H x W batch, in fp32
    even when the network ran in bf16; centred before the product, as the oracle."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    mean = flat.mean(dim=2)
    centred = flat - mean[:, :, None]
    return mean, centred @ centred.transpose(1, 2) / (h * w)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor, normalization: str) -> torch.Tensor:
    channels = features.shape[1]
    squared = (gram(features)[0] - target_gram).pow(2).sum()
    return style_normaliser(squared, channels, normalization)


def meancov_loss(
    features: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor, normalization: str
) -> torch.Tensor:
    channels = features.shape[1]
    mean, cov = mean_cov(features)
    mean_sq = (mean[0] - target_mean).pow(2).sum()
    cov_sq = (cov[0] - target_cov).pow(2).sum()
    combined = 2 * channels * mean_sq + cov_sq
    return style_normaliser(combined, channels, normalization)


def layer_style_loss(features: torch.Tensor, targets: Targets, layer: str, spec: LossSpec) -> torch.Tensor:
    if targets.guides:
        return guided_style_loss(
            features, targets.guides[layer], targets.grams[layer], targets.region_weights, spec.normalization
        )
    if spec.style_loss == "meancov":
        return meancov_loss(features, targets.means[layer], targets.covs[layer], spec.normalization)
    return style_loss(features, targets.grams[layer], spec.normalization)


def content_loss(features: torch.Tensor, target: torch.Tensor, normalization: str) -> torch.Tensor:
    diff = features.float() - target
    return diff.pow(2).mean() if normalization == "mse" else 0.5 * diff.pow(2).sum()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    dy = (image[:, :, 1:] - image[:, :, :-1]).pow(2).sum()
    dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).pow(2).sum()
    return (dx + dy) / image.numel()


def temporal_loss(image: torch.Tensor, previous: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """sum_p c(p) ||x(p) - w(p)||^2 / (H*W*3) for 1 x 3 x H x W images and an H x W confidence."""
    return (confidence * (image - previous).pow(2)).sum() / image.numel()


def loss_terms(
    features: dict[str, torch.Tensor], targets: Targets, image: torch.Tensor, spec: LossSpec
) -> dict[str, torch.Tensor]:
    zero = image.new_zeros(())
    content = sum(
        (w * content_loss(features[l], targets.content[l], spec.normalization) for l, w in spec.content), zero
    )
    style = sum((w * layer_style_loss(features[l], targets, l, spec) for l, w in spec.style), zero)
    tv = spec.tv * tv_loss(image) if is_on(spec.tv) else zero
    if not is_on(spec.temporal):
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}
    temporal = spec.temporal * temporal_loss(image, targets.previous, targets.confidence)
    return {
        "content": content,
        "style": style,
        "tv": tv,
        "temporal": temporal,
        "total": content + style + tv + temporal,
    }
