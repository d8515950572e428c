"""The objective of ``nst.config.LossSpec`` in torch (formulas documented there)."""

from __future__ import annotations

import torch

from nst.config import LossSpec


def gram(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T / M for each image of an N x C x H x W batch -> N x C x C."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)  # fp32 even when the network ran in bf16
    return flat @ flat.transpose(1, 2) / (h * w)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor, normalization: str) -> torch.Tensor:
    channels = features.shape[1]
    squared = (gram(features)[0] - target_gram).pow(2).sum()
    return squared / channels**4 if normalization == "mse" else squared / (4 * channels**2)


def content_loss(features: torch.Tensor, target: torch.Tensor, normalization: str) -> torch.Tensor:
    diff = features.float() - target
    return diff.pow(2).mean() if normalization == "mse" else 0.5 * diff.pow(2).sum()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    dy = (image[:, :, 1:] - image[:, :, :-1]).pow(2).sum()
    dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).pow(2).sum()
    return (dx + dy) / image.numel()


def loss_terms(features: dict[str, torch.Tensor], targets: "Targets", image: torch.Tensor,
               spec: LossSpec) -> dict[str, torch.Tensor]:
    zero = image.new_zeros(())
    content = sum((w * content_loss(features[l], targets.content[l], spec.normalization)
                   for l, w in spec.content), zero)
    style = sum((w * style_loss(features[l], targets.grams[l], spec.normalization)
                 for l, w in spec.style), zero)
    tv = spec.tv * tv_loss(image) if spec.tv else zero
    return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


class Targets:
    """Content features and blended style Grams, on the network's device."""

    def __init__(self, content: dict[str, torch.Tensor], grams: dict[str, torch.Tensor]):
        self.content = content
        self.grams = grams
