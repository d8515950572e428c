"""The objective of ``nst.objective.LossSpec`` in JAX (formulas documented there).

Pure functions of one image's features (H x W x C, NHWC without the batch axis) and of the
targets pytree. Grams and losses are fp32 even when the network ran in bfloat16
(``Config.precision`` 'bf16'), their matmuls at full fp32 precision except under 'tf32'
(``conv.fp32_precision``). Terms are summed in the same order as the torch backend's, so the
two round alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from nst.backends.jax.conv import HIGHEST, fp32_precision
from nst.backends.jax.vgg import VGGFeatures, apply_features
from nst.objective import GUIDE_FLOOR, LossSpec, LossWeights, Targets, is_on, style_normaliser


def gram(features: jax.Array, precision: lax.Precision = HIGHEST) -> jax.Array:
    """G = F F^T / M with F the C x M feature matrix of an H x W x C array -> C x C, in fp32
    even when the network ran in bf16."""
    h, w, c = features.shape
    flat = features.astype(jnp.float32).reshape(h * w, c)
    return jnp.matmul(flat.T, flat, precision=precision) / (h * w)


def style_loss(
    features: jax.Array, target_gram: jax.Array, normalization: str, precision: lax.Precision = HIGHEST
) -> jax.Array:
    channels = float(features.shape[-1])  # a Python float: 512**4 overflows JAX's int32
    squared = jnp.sum((gram(features, precision) - target_gram) ** 2)
    return style_normaliser(squared, channels, normalization)


def guided_grams(features: jax.Array, guides: jax.Array, precision: lax.Precision = HIGHEST) -> jax.Array:
    """G_s = sum_p g_s(p)^2 F_p F_p^T / sum_p g_s(p)^2 for an H x W x C map and S x H x W
    guides -> S x C x C (fp32, as ``gram``)."""
    h, w, c = features.shape
    flat = features.astype(jnp.float32).reshape(h * w, c)
    weights = guides.reshape(guides.shape[0], h * w) ** 2
    grams = jnp.einsum("sm,mc,md->scd", weights, flat, flat, precision=precision)
    return grams / jnp.maximum(weights.sum(1), GUIDE_FLOOR)[:, None, None]


def guided_style_loss(
    features: jax.Array,
    guides: jax.Array,
    target_grams: jax.Array,
    region_weights: jax.Array,
    normalization: str,
    precision: lax.Precision = HIGHEST,
) -> jax.Array:
    channels = float(features.shape[-1])
    squared = jnp.sum((guided_grams(features, guides, precision) - target_grams) ** 2, axis=(1, 2))
    squared = jnp.sum(region_weights * squared)
    return style_normaliser(squared, channels, normalization)


def mean_cov(features: jax.Array, precision: lax.Precision = HIGHEST) -> tuple[jax.Array, jax.Array]:
    """Per-channel mean (C) and covariance (C x C) of an H x W x C array, in fp32 even when
    the network ran in bf16; centred before the product, as the oracle."""
    h, w, c = features.shape
    flat = features.astype(jnp.float32).reshape(h * w, c)
    mean = jnp.mean(flat, axis=0)
    centred = flat - mean
    return mean, jnp.matmul(centred.T, centred, precision=precision) / (h * w)


def meancov_loss(
    features: jax.Array,
    target_mean: jax.Array,
    target_cov: jax.Array,
    normalization: str,
    precision: lax.Precision = HIGHEST,
) -> jax.Array:
    channels = float(features.shape[-1])
    mean, cov = mean_cov(features, precision)
    mean_sq = jnp.sum((mean - target_mean) ** 2)
    cov_sq = jnp.sum((cov - target_cov) ** 2)
    combined = 2 * channels * mean_sq + cov_sq
    return style_normaliser(combined, channels, normalization)


def layer_style_loss(
    features: jax.Array, targets: Targets, layer: str, spec: LossSpec, precision: lax.Precision = HIGHEST
) -> jax.Array:
    if targets.guides:
        return guided_style_loss(
            features,
            targets.guides[layer],
            targets.grams[layer],
            targets.region_weights,
            spec.normalization,
            precision,
        )
    if spec.style_loss == "meancov":
        return meancov_loss(
            features, targets.means[layer], targets.covs[layer], spec.normalization, precision
        )
    return style_loss(features, targets.grams[layer], spec.normalization, precision)


def content_loss(features: jax.Array, target: jax.Array, normalization: str) -> jax.Array:
    diff = features.astype(jnp.float32) - target
    return jnp.mean(diff**2) if normalization == "mse" else 0.5 * jnp.sum(diff**2)


def tv_loss(image: jax.Array) -> jax.Array:
    """On the H x W x 3 RGB [0,1] image."""
    dy = jnp.sum((image[1:] - image[:-1]) ** 2)
    dx = jnp.sum((image[:, 1:] - image[:, :-1]) ** 2)
    return (dx + dy) / image.size


def temporal_loss(image: jax.Array, previous: jax.Array, confidence: jax.Array) -> jax.Array:
    """sum_p c(p) ||x(p) - w(p)||^2 / (H*W*3) for H x W x 3 images and an H x W confidence."""
    return jnp.sum(confidence[:, :, None] * (image - previous) ** 2) / image.size


def loss_terms(
    features: dict[str, jax.Array],
    targets: Targets,
    image: jax.Array,
    spec: LossSpec,
    precision: lax.Precision = HIGHEST,
) -> dict[str, jax.Array]:
    """``precision``: of the Gram matmuls (see ``conv.fp32_precision``)."""
    zero = jnp.zeros((), jnp.float32)
    content = sum(
        (w * content_loss(features[l], targets.content[l], spec.normalization) for l, w in spec.content), zero
    )
    style = sum((w * layer_style_loss(features[l], targets, l, spec, precision) for l, w in spec.style), zero)
    return with_image_terms(content, style, targets, image, spec)


def with_image_terms(
    content: jax.Array, style: jax.Array, targets: Targets, image: jax.Array, spec: LossSpec
) -> dict[str, jax.Array]:
    """All loss terms from the feature terms and the image: TV, temporal and the total (the
    image terms need no network, so a tiled evaluation adds them on the whole image)."""
    zero = jnp.zeros((), jnp.float32)
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


def objective(
    module: VGGFeatures, form: LossSpec, params, targets: Targets, weights: LossWeights, image: jax.Array
) -> dict[str, jax.Array]:
    """All loss terms of an H x W x 3 image: the network's forward pass plus ``loss_terms``,
    at the network's precision. The objective is ``form`` (``LossSpec.unweighted``, a static
    compile key) with ``weights`` (arrays), so images whose weights differ share one step."""
    return loss_terms(
        apply_features(module, params, image),
        targets,
        image,
        form.weighted(weights),
        fp32_precision(module.precision),
    )


def traced_weights(spec: LossSpec) -> LossWeights:
    """``spec``'s weights as float32 arrays: the traced arguments of ``objective``."""
    return jax.tree.map(jnp.float32, spec.weights)
