"""The targets of a run in torch: content features and the style statistics of the style
images, blended with ``LossSpec.style_blend`` (``nst.objective`` documents the formulas)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nst.backends.torch.arrays import to_tensor
from nst.backends.torch.losses import gram, guided_grams, mean_cov
from nst.backends.torch.vgg import VGGFeatures
from nst.masks import Guides
from nst.objective import LossSpec, Targets


@torch.no_grad()
def blended_targets(
    module: VGGFeatures,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    spec: LossSpec,
    guides: Guides | None,
    device: torch.device,
) -> Targets:
    """Content features and, per style layer, sum_i blend_i * Gram_i over the style images
    (or sum_i blend_i * mean_i and sum_i blend_i * covariance_i for 'meancov'); with
    ``guides``, one guided Gram per style image instead of a blend."""
    content_features = {}
    if spec.content:
        out = module(to_tensor(content, device))
        content_features = {l: out[l] for l, _ in spec.content}
    layers = [l for l, _ in spec.style]
    style_features = [module(to_tensor(style, device)) for style in styles]
    if guides is not None:

        def as_tensor(array) -> torch.Tensor:
            return torch.from_numpy(np.asarray(array, np.float32)).to(device)

        grams = {
            l: torch.cat(
                [guided_grams(out[l], as_tensor(g[l])[None]) for out, g in zip(style_features, guides.styles)]
            )
            for l in layers
        }
        return Targets(
            content_features,
            grams,
            guides={l: as_tensor(guides.output[l]) for l in layers},
            region_weights=as_tensor(guides.weights),
        )
    grams = {}
    means: dict[str, torch.Tensor] = {}
    covs: dict[str, torch.Tensor] = {}
    for blend, out in zip(spec.style_blend, style_features):
        for l in layers:
            if spec.style_loss == "meancov":
                mean, cov = mean_cov(out[l])
                means[l] = means.get(l, 0) + blend * mean[0]
                covs[l] = covs.get(l, 0) + blend * cov[0]
            else:
                grams[l] = grams.get(l, 0) + blend * gram(out[l])[0]
    return Targets(content_features, grams, means, covs)
