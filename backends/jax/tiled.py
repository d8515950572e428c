"""``nst.tiling``'s two passes in JAX: targets, statistics, loss and gradient of an image
evaluated tile by tile, equal to the whole image's up to float summation order.

A tile contributes additive *sums* over its core's positions inside the image, per layer:
'content' sum (F - P)^2; 'gram' sum F F^T (with guides, sum g_s^2 F F^T per style); 'guide'
sum g_s^2; 'mean' sum F and 'cov' sum (F - c)(F - c)^T around the target mean c ('meancov').
``loss_from_sums`` is ``nst.objective.LossSpec``'s loss written in those sums.

Every pass is a ``lax.scan`` over the tiles, which all have one shape (``TilePlan.side``), so
the network is compiled for one tile whatever the image's size; the per-tile data (input
origins, inside-the-image vectors, the core's content targets and guides) are the scan's
stacked inputs. ``tiled_sums`` is a ``jax.custom_vjp`` whose forward is pass 1 and whose
backward is pass 2, so a gradient of the loss, inside the optimiser's compiled loop too,
holds one tile's activations at a time instead of the whole image's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nst.backends.jax.conv import fp32_precision
from nst.backends.jax.losses import with_image_terms
from nst.backends.jax.sharding import Placement
from nst.backends.jax.vgg import Inside, VGGFeatures, apply_features
from nst.masks import Guides
from nst.objective import GUIDE_FLOOR, LayerStatistics, LossSpec, LossWeights, Targets, style_normaliser
from nst.tiling import TilePlan, core_crop, layer_positions, level_of

Sums = dict[tuple[str, str], jax.Array]


def padded(image: jax.Array, plan: TilePlan) -> jax.Array:
    """An H x W x 3 image padded so every tile's input lies inside it (the padding's values
    never count: the network zeroes positions outside the image)."""
    height, width = plan.padded_shape
    return jnp.pad(
        image,
        (
            (plan.halo, height - plan.halo - plan.height),
            (plan.halo, width - plan.halo - plan.width),
            (0, 0),
        ),
    )


def tile_at(image: jax.Array, origin: jax.Array, plan: TilePlan) -> jax.Array:
    """The input of the tile at ``origin`` (row, column) of a padded image."""
    return lax.dynamic_slice(image, (origin[0], origin[1], 0), (plan.side, plan.side, image.shape[-1]))


def origins(plan: TilePlan) -> np.ndarray:
    """Every tile's input origin in the padded image, tiles x 2 (row, column)."""
    return np.asarray(plan.origins(), np.int32).reshape(plan.count, 2)


def inside_masks(plan: TilePlan) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per level, every tile's rows and columns inside the image (tiles x side_l each); their
    outer product is the tile's inside-the-image map."""
    return [
        (
            np.stack([plan.inside(y, level, 0) for y, _ in plan.origins()]),
            np.stack([plan.inside(x, level, 1) for _, x in plan.origins()]),
        )
        for level in range(plan.levels + 1)
    ]


def core_features(
    features: Mapping[str, jax.Array], inside: Sequence[Inside], plan: TilePlan, module: VGGFeatures
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """Each layer's features at the tile's core, core_l x core_l x C in fp32 and zero outside
    the image, and the core's inside-the-image map."""
    out, counted = {}, {}
    for layer, values in features.items():
        level = level_of(module.arch, layer)
        core = plan.core_positions(level)
        rows, cols = inside[level]
        counted[layer] = rows[core][:, None] * cols[core][None, :]
        out[layer] = values[core, core].astype(jnp.float32) * counted[layer][:, :, None]
    return out, counted


def tile_sums(
    features: Mapping[str, jax.Array],
    counted: Mapping[str, jax.Array],
    spec: LossSpec,
    targets: Targets | None,
    style_layers: Sequence[str],
    shifts: Mapping[str, jax.Array] | None = None,
    precision: lax.Precision = lax.Precision.HIGHEST,
) -> Sums:
    """One tile's sums for ``spec``'s terms. ``targets`` holds this tile's content targets
    (core_l x core_l x C) and guides (S x core_l x core_l); ``shifts`` the 'meancov' centres."""
    sums: Sums = {}
    if targets is not None and targets.content:
        for layer, _ in spec.content:
            sums["content", layer] = jnp.sum((features[layer] - targets.content[layer]) ** 2)
    for layer in style_layers:
        values = features[layer]
        flat = values.reshape(-1, values.shape[-1])
        if targets is not None and targets.guides:
            weights = targets.guides[layer].reshape(-1, flat.shape[0]) ** 2
            sums["gram", layer] = jnp.einsum("sm,mc,md->scd", weights, flat, flat, precision=precision)
            sums["guide", layer] = weights.sum(1)
        elif spec.style_loss == "meancov":
            centre = shifts[layer] if shifts is not None else jnp.zeros(flat.shape[1], flat.dtype)
            centred = (flat - centre) * counted[layer].reshape(-1, 1)
            sums["mean", layer] = flat.sum(0)
            sums["cov", layer] = jnp.matmul(centred.T, centred, precision=precision)
        else:
            sums["gram", layer] = jnp.matmul(flat.T, flat, precision=precision)
    return sums


def summed(sums_of_tile: Callable[[Any], Sums], tile_inputs: Any) -> Sums:
    """``sums_of_tile``'s sums added over the tiles: a ``lax.scan`` over ``tile_inputs``, the
    per-tile data stacked along a leading axis."""
    first = jax.tree.map(lambda a: a[0], tile_inputs)
    shapes = jax.eval_shape(sums_of_tile, first)

    def add_tile(total: Sums, tile_input: Any) -> tuple[Sums, None]:
        return jax.tree.map(jnp.add, total, sums_of_tile(tile_input)), None

    zeros = jax.tree.map(lambda shape: jnp.zeros(shape.shape, shape.dtype), shapes)
    return lax.scan(add_tile, zeros, tile_inputs)[0]


def loss_from_sums(
    sums: Sums, targets: Targets, spec: LossSpec, plan: TilePlan, module: VGGFeatures
) -> tuple[jax.Array, jax.Array]:
    """The content and style terms of ``LossSpec`` from the sums over all tiles."""
    zero = jnp.zeros((), jnp.float32)
    content = zero
    for layer, weight in spec.content:
        count = float(layer_positions(plan, module.arch, layer) * module.arch.channels(layer))
        squared = sums["content", layer]
        content = content + weight * (squared / count if spec.normalization == "mse" else 0.5 * squared)
    style = zero
    for layer, weight in spec.style:
        count = float(layer_positions(plan, module.arch, layer))
        channels = float(module.arch.channels(layer))  # a Python float: 512**4 overflows int32
        if targets.guides:
            grams = sums["gram", layer] / jnp.maximum(sums["guide", layer], GUIDE_FLOOR)[:, None, None]
            squared = jnp.sum(
                targets.region_weights * jnp.sum((grams - targets.grams[layer]) ** 2, axis=(1, 2))
            )
        elif spec.style_loss == "meancov":
            mean = sums["mean", layer] / count
            offset = mean - targets.means[layer]  # the sums' centre is the target mean
            cov = sums["cov", layer] / count - offset[:, None] * offset[None, :]
            squared = 2 * channels * jnp.sum(offset**2) + jnp.sum((cov - targets.covs[layer]) ** 2)
        else:
            squared = jnp.sum((sums["gram", layer] / count - targets.grams[layer]) ** 2)
        style = style + weight * style_normaliser(squared, channels, spec.normalization)
    return content, style


def objective_inputs(plan: TilePlan, targets: Targets) -> tuple:
    """The objective's per-tile scan inputs: origin, inside vectors, the core's content
    targets and output guides."""
    return origins(plan), inside_masks(plan), dict(targets.content), dict(targets.guides)


def objective_tile_sums(
    module: VGGFeatures, spec: LossSpec, plan: TilePlan, params, targets: Targets, tile: jax.Array, data
) -> Sums:
    """The objective's sums of one tile's input, ``data`` its part of ``objective_inputs``."""
    _, inside, content, guides = data
    features = apply_features(module, params, tile, inside)
    core, counted = core_features(features, inside, plan, module)
    tile_targets = Targets(content, {}, guides=guides)
    style_layers = [layer for layer, _ in spec.style]
    precision = fp32_precision(module.precision)
    return tile_sums(core, counted, spec, tile_targets, style_layers, targets.means, precision)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def tiled_sums(
    module: VGGFeatures, spec: LossSpec, plan: TilePlan, params, targets: Targets, image: jax.Array
) -> Sums:
    """Pass 1: the objective's sums of an H x W x 3 image over its tiles. Differentiating
    through it runs pass 2 (``_tiled_sums_backward``)."""
    whole = padded(image, plan)

    def sums_of_tile(data) -> Sums:
        tile = tile_at(whole, data[0], plan)
        return objective_tile_sums(module, spec, plan, params, targets, tile, data)

    return summed(sums_of_tile, objective_inputs(plan, targets))


def _tiled_sums_forward(module, spec, plan, params, targets, image):
    return tiled_sums(module, spec, plan, params, targets, image), (params, targets, image)


def _tiled_sums_backward(module, spec, plan, residuals, cotangents: Sums):
    """Pass 2: each tile forward and backward with dL/d(sums) as the sums' cotangents, its
    input's gradient, halo included, added into the padded image's."""
    params, targets, image = residuals
    whole = padded(image, plan)

    def add_tile_gradient(grad: jax.Array, data) -> tuple[jax.Array, None]:
        origin = data[0]
        _, pullback = jax.vjp(
            lambda tile: objective_tile_sums(module, spec, plan, params, targets, tile, data),
            tile_at(whole, origin, plan),
        )
        (tile_grad,) = pullback(cotangents)
        start = (origin[0], origin[1], 0)
        grad = lax.dynamic_update_slice(
            grad, lax.dynamic_slice(grad, start, tile_grad.shape) + tile_grad, start
        )
        return grad, None

    grad, _ = lax.scan(add_tile_gradient, jnp.zeros_like(whole), objective_inputs(plan, targets))
    halo = plan.halo
    # The network's parameters and the targets are constants: no cotangent.
    return None, None, grad[halo : halo + plan.height, halo : halo + plan.width]


tiled_sums.defvjp(_tiled_sums_forward, _tiled_sums_backward)


def tiled_objective(
    module: VGGFeatures,
    form: LossSpec,
    plan: TilePlan,
    params,
    targets: Targets,
    weights: LossWeights,
    image: jax.Array,
) -> dict[str, jax.Array]:
    """``nst.backends.jax.losses.objective`` of an H x W x 3 image, tile by tile, for targets
    from ``tiled_targets`` with the same plan; differentiable (``tiled_sums``)."""
    sums = tiled_sums(module, form, plan, params, targets, image)
    spec = form.weighted(weights)
    content, style = loss_from_sums(sums, targets, spec, plan, module)
    return with_image_terms(content, style, targets, image, spec)


def image_sums(
    module: VGGFeatures,
    spec: LossSpec,
    plan: TilePlan,
    layers: tuple[str, ...],
    params,
    image: jax.Array,
    guides: Mapping[str, jax.Array] | None = None,
    shifts: Mapping[str, jax.Array] | None = None,
) -> Sums:
    """Style sums of a whole image over its tiles; with ``guides`` (per layer tiles x 1 x
    core_l x core_l, one style's guide on its image at each tile's core) the guided sums, with
    ``shifts`` the 'meancov' sums around them."""
    whole = padded(image, plan)
    precision = fp32_precision(module.precision)

    def sums_of_tile(data) -> Sums:
        origin, inside, tile_guides = data
        features = apply_features(module, params, tile_at(whole, origin, plan), inside)
        core, counted = core_features(features, inside, plan, module)
        tile_targets = None if tile_guides is None else Targets({}, {}, guides=tile_guides)
        return tile_sums(core, counted, spec, tile_targets, layers, shifts, precision)

    return summed(sums_of_tile, (origins(plan), inside_masks(plan), guides))


def content_cores(
    module: VGGFeatures, plan: TilePlan, layers: tuple[str, ...], params, image: jax.Array
) -> dict[str, jax.Array]:
    """``layers``' features at every tile's core, tiles x core_l x core_l x C, zero outside
    the image."""
    whole = padded(image, plan)

    def cores_of_tile(_, data) -> tuple[None, dict[str, jax.Array]]:
        origin, inside = data
        features = apply_features(module, params, tile_at(whole, origin, plan), inside)
        core, _ = core_features(features, inside, plan, module)
        return None, {layer: core[layer] for layer in layers}

    return lax.scan(cores_of_tile, None, (origins(plan), inside_masks(plan)))[1]


def layer_sums(module: VGGFeatures, plan: TilePlan, params, image: jax.Array) -> Sums:
    """Per layer the module returns, 'square' sum F^2 and 'gram' sum F F^T over the image's
    positions, tile by tile."""
    whole = padded(image, plan)
    precision = fp32_precision(module.precision)

    def sums_of_tile(data) -> Sums:
        origin, inside = data
        features = apply_features(module, params, tile_at(whole, origin, plan), inside)
        core, _ = core_features(features, inside, plan, module)
        sums: Sums = {}
        for layer, values in core.items():
            flat = values.reshape(-1, values.shape[-1])
            sums["square", layer] = jnp.sum(flat**2)
            sums["gram", layer] = jnp.matmul(flat.T, flat, precision=precision)
        return sums

    return summed(sums_of_tile, (origins(plan), inside_masks(plan)))


# The module, the spec, the plan and the layers are hashable values: each compiles once per
# (network, objective, tile plan).
_image_sums = jax.jit(image_sums, static_argnums=(0, 1, 2, 3))
_content_cores = jax.jit(content_cores, static_argnums=(0, 1, 2))
_layer_sums = jax.jit(layer_sums, static_argnums=(0, 1))


def guide_cores(
    guides: Mapping[str, np.ndarray], plan: TilePlan, module: VGGFeatures, device: Placement
) -> dict[str, jax.Array]:
    """Guides (per layer S x H_l x W_l) cut to every tile's core: tiles x S x core_l x core_l."""
    return {
        layer: jax.device_put(
            np.stack([core_crop(g, plan, origin, level_of(module.arch, layer)) for origin in plan.origins()]),
            device,
        )
        for layer, g in guides.items()
    }


def tiled_targets(
    module: VGGFeatures,
    params,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    spec: LossSpec,
    guides: Guides | None,
    plan_for: Callable[[tuple[int, ...]], TilePlan],
    device: Placement,
) -> Targets:
    """``nst.backends.jax.targets.blended_targets`` computed tile by tile. The content
    features and the output's guides are kept per tile core: ``content[l]`` is
    tiles x core_l x core_l x C, ``guides[l]`` tiles x S x core_l x core_l."""

    def on_device(image: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(image, np.float32), device)

    plan = plan_for(content.shape)
    content_features = {}
    if spec.content:
        content_layers = tuple(l for l, _ in spec.content)
        content_features = _content_cores(module, plan, content_layers, params, on_device(content))
    layers = tuple(l for l, _ in spec.style)
    grams: dict[str, jax.Array] = {}
    if guides is not None:
        for style, style_guides in zip(styles, guides.styles):
            style_plan = plan_for(style.shape)
            cores = guide_cores({l: g[None] for l, g in style_guides.items()}, style_plan, module, device)
            sums = _image_sums(module, spec, style_plan, layers, params, on_device(style), cores)
            for l in layers:
                gram = sums["gram", l] / jnp.maximum(sums["guide", l], GUIDE_FLOOR)[:, None, None]
                grams[l] = jnp.concatenate([grams[l], gram]) if l in grams else gram
        return Targets(
            content_features,
            grams,
            guides=guide_cores(guides.output, plan, module, device),
            region_weights=on_device(np.asarray(guides.weights)),
        )
    means: dict[str, jax.Array] = {}
    covs: dict[str, jax.Array] = {}
    zero = jnp.zeros((), jnp.float32)
    for blend, style in zip(spec.style_blend, styles):
        style_plan = plan_for(style.shape)
        pixels = on_device(style)
        sums = _image_sums(module, spec, style_plan, layers, params, pixels)
        counts = {l: layer_positions(style_plan, module.arch, l) for l in layers}
        if spec.style_loss == "meancov":
            style_means = {l: sums["mean", l] / counts[l] for l in layers}
            centred = _image_sums(module, spec, style_plan, layers, params, pixels, shifts=style_means)
        for l in layers:
            if spec.style_loss == "meancov":
                means[l] = means.get(l, zero) + blend * style_means[l]
                covs[l] = covs.get(l, zero) + blend * centred["cov", l] / counts[l]
            else:
                grams[l] = grams.get(l, zero) + blend * sums["gram", l] / counts[l]
    return Targets(content_features, grams, means, covs)


def tiled_statistics(module: VGGFeatures, params, image: jax.Array, plan: TilePlan) -> LayerStatistics:
    """``nst.objective.LayerStatistics`` of every layer the module returns, tile by tile (the
    sums in fp32, the statistics from them in float64)."""
    sums = jax.device_get(_layer_sums(module, plan, params, image))
    mean_square, gram = {}, {}
    for layer in module.layers:
        count = layer_positions(plan, module.arch, layer)
        mean_square[layer] = float(sums["square", layer]) / (count * module.arch.channels(layer))
        gram[layer] = np.asarray(sums["gram", layer], np.float64) / count
    return LayerStatistics(mean_square, gram)
