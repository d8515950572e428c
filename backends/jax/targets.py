"""The targets of a run in JAX: content features and the style statistics of the style
images, blended with ``LossSpec.style_blend`` (``nst.objective`` documents the formulas)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nst.backends.jax.losses import gram, guided_grams, mean_cov
from nst.backends.jax.vgg import VGGFeatures, apply_features
from nst.objective import LossSpec, Targets


def blended_targets(
    module: VGGFeatures,
    spec: LossSpec,
    params,
    content: jax.Array,
    styles: list[jax.Array],
    guides: dict | None = None,
) -> Targets:
    """Content features and, per style layer, sum_i blend_i * Gram_i over the style images
    (or sum_i blend_i * mean_i and sum_i blend_i * covariance_i for 'meancov')."""
    content_features = {}
    if spec.content:
        out = apply_features(module, params, content)
        content_features = {l: out[l] for l, _ in spec.content}
    layers = [l for l, _ in spec.style]
    grams: dict[str, jax.Array] = {}
    means: dict[str, jax.Array] = {}
    covs: dict[str, jax.Array] = {}
    if guides is not None:
        style_features = [apply_features(module, params, style) for style in styles]
        for l in layers:
            grams[l] = jnp.concatenate(
                [guided_grams(out[l], g[l][None]) for out, g in zip(style_features, guides["styles"])]
            )
        return Targets(content_features, grams, guides=guides["output"], region_weights=guides["weights"])
    zero = jnp.zeros((), jnp.float32)
    for blend, style in zip(spec.style_blend, styles):
        out = apply_features(module, params, style)
        for l in layers:
            if spec.style_loss == "meancov":
                mean, cov = mean_cov(out[l])
                means[l] = means.get(l, zero) + blend * mean
                covs[l] = covs.get(l, zero) + blend * cov
            else:
                grams[l] = grams.get(l, zero) + blend * gram(out[l])
    return Targets(content_features, grams, means, covs)
