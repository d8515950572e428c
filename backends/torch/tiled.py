"""``nst.tiling``'s two passes in torch: targets, statistics, loss and gradient of an image
evaluated tile by tile, equal to the whole image's up to float summation order.

A tile contributes additive *sums* over its core's positions inside the image, per layer:
'content' sum (F - P)^2; 'gram' sum F F^T (with guides, sum g_s^2 F F^T per style); 'guide'
sum g_s^2; 'mean' sum F and 'cov' sum (F - c)(F - c)^T around the target mean c ('meancov').
``loss_from_sums`` is ``nst.objective.LossSpec``'s loss written in those sums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from nst.backends.torch.arrays import to_tensor
from nst.backends.torch.losses import temporal_loss, tv_loss
from nst.backends.torch.vgg import VGGFeatures
from nst.masks import Guides
from nst.objective import GUIDE_FLOOR, LayerStatistics, LossSpec, Targets, is_on, style_normaliser
from nst.tiling import TilePlan, core_crop, layer_positions, level_of

Sums = dict[tuple[str, str], torch.Tensor]


def padded(image: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """A 1 x 3 x H x W image padded so every tile's input lies inside it (the padding's values
    never count: the network zeroes positions outside the image)."""
    height, width = plan.padded_shape
    return F.pad(
        image, (plan.halo, width - plan.halo - plan.width, plan.halo, height - plan.halo - plan.height)
    )


def tiles(image: torch.Tensor, plan: TilePlan) -> Iterator[tuple[int, tuple[int, int], torch.Tensor]]:
    """(index, origin, the tile's input) of every tile of a padded image."""
    for index, (y, x) in enumerate(plan.origins()):
        yield index, (y, x), image[:, :, y : y + plan.side, x : x + plan.side]


def inside_masks(plan: TilePlan, origin: tuple[int, int], device: torch.device) -> list[torch.Tensor]:
    """Per level, the tile's side_l x side_l map of positions inside the image."""
    return [
        torch.from_numpy(np.outer(plan.inside(origin[0], level, 0), plan.inside(origin[1], level, 1))).to(
            device
        )
        for level in range(plan.levels + 1)
    ]


def core_features(
    features: Mapping[str, torch.Tensor], inside: Sequence[torch.Tensor], plan: TilePlan, module: VGGFeatures
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Each layer's features at the tile's core, C x core_l x core_l in fp32 and zero outside
    the image, and the core's inside-the-image map."""
    out, counted = {}, {}
    for layer, values in features.items():
        level = level_of(module.arch, layer)
        core = plan.core_positions(level)
        counted[layer] = inside[level][core, core]
        out[layer] = values[0, :, core, core].float() * counted[layer]
    return out, counted


def tile_sums(
    features: Mapping[str, torch.Tensor],
    counted: Mapping[str, torch.Tensor],
    spec: LossSpec,
    tile_index: int,
    targets: Targets | None,
    style_layers: Sequence[str],
    shifts: Mapping[str, torch.Tensor] | None = None,
) -> Sums:
    """One tile's sums for ``spec``'s terms. ``targets`` (tiled layout, see ``tiled_targets``)
    gives the content targets and guides of this tile; ``shifts`` the 'meancov' centres."""
    sums: Sums = {}
    if targets is not None and targets.content:
        for layer, _ in spec.content:
            sums["content", layer] = (features[layer] - targets.content[layer][tile_index]).pow(2).sum()
    for layer in style_layers:
        values = features[layer]
        flat = values.reshape(values.shape[0], -1)
        if targets is not None and targets.guides:
            weights = targets.guides[layer][tile_index].reshape(-1, flat.shape[1]).pow(2)
            sums["gram", layer] = (flat[None] * weights[:, None]) @ flat.T
            sums["guide", layer] = weights.sum(1)
        elif spec.style_loss == "meancov":
            centre = shifts[layer] if shifts is not None else flat.new_zeros(flat.shape[0])
            centred = (flat - centre[:, None]) * counted[layer].reshape(1, -1)
            sums["mean", layer] = flat.sum(1)
            sums["cov", layer] = centred @ centred.T
        else:
            sums["gram", layer] = flat @ flat.T
    return sums


def add_sums(total: Sums, part: Sums) -> Sums:
    for key, value in part.items():
        total[key] = total[key] + value if key in total else value
    return total


def loss_from_sums(
    sums: Sums, targets: Targets, spec: LossSpec, plan: TilePlan, module: VGGFeatures
) -> tuple[torch.Tensor, torch.Tensor]:
    """The content and style terms of ``LossSpec`` from the sums over all tiles."""
    zero = next(iter(sums.values())).new_zeros(())
    content = zero
    for layer, weight in spec.content:
        count = layer_positions(plan, module.arch, layer) * module.arch.channels(layer)
        squared = sums["content", layer]
        content = content + weight * (squared / count if spec.normalization == "mse" else 0.5 * squared)
    style = zero
    for layer, weight in spec.style:
        count = layer_positions(plan, module.arch, layer)
        channels = module.arch.channels(layer)
        if targets.guides:
            grams = sums["gram", layer] / sums["guide", layer].clamp_min(GUIDE_FLOOR)[:, None, None]
            squared = (targets.region_weights * (grams - targets.grams[layer]).pow(2).sum((1, 2))).sum()
        elif spec.style_loss == "meancov":
            mean = sums["mean", layer] / count
            offset = mean - targets.means[layer]  # the sums' centre is the target mean
            cov = sums["cov", layer] / count - offset[:, None] * offset[None, :]
            squared = 2 * channels * offset.pow(2).sum() + (cov - targets.covs[layer]).pow(2).sum()
        else:
            squared = (sums["gram", layer] / count - targets.grams[layer]).pow(2).sum()
        style = style + weight * style_normaliser(squared, channels, spec.normalization)
    return content, style


class TiledEvaluation:
    """The loss terms and the gradient of a 1 x 3 x H x W image, tile by tile.

    With several ``modules`` (replicas of one network, one per device, the image's on the
    first) tile i runs on the device of replica i % n: every device takes a share of each
    pass, and CUDA's asynchronous launches let them run at once while the loop goes round.
    Each device keeps its own sums and gradient, moved to the first device once per pass, and
    each tile's targets and inside-the-image vectors wait on its device from the start, so
    the loop neither copies from the host nor waits for a device.
    """

    def __init__(
        self,
        modules: Sequence[VGGFeatures],
        targets: Targets,
        spec: LossSpec,
        plan: TilePlan,
        autocast: bool = False,
    ):
        self.modules, self.targets, self.spec, self.plan = list(modules), targets, spec, plan
        self.module = self.modules[0]
        self.devices = [module.gain.device for module in self.modules]
        self.style_layers = [layer for layer, _ in spec.style]
        self.autocast = autocast
        self.tile_targets, self.tile_inside = [], []
        for index, (y, x) in enumerate(plan.origins()):
            device = self.devices[index % len(self.devices)]
            self.tile_targets.append(self._targets_on(index, device))
            self.tile_inside.append(
                [
                    (
                        torch.from_numpy(plan.inside(y, level, 0)).to(device),
                        torch.from_numpy(plan.inside(x, level, 1)).to(device),
                    )
                    for level in range(plan.levels + 1)
                ]
            )

    def _targets_on(self, index: int, device: torch.device) -> Targets:
        """Tile ``index``'s content targets and output guides (a leading axis of one, as
        ``tile_sums`` indexes them) and the 'meancov' centres, on ``device``."""
        targets = self.targets
        return Targets(
            {layer: values[index : index + 1].to(device) for layer, values in targets.content.items()},
            {},
            {layer: values.to(device) for layer, values in targets.means.items()},
            guides={layer: values[index : index + 1].to(device) for layer, values in targets.guides.items()},
        )

    def _tile_sums(self, tile: torch.Tensor, index: int) -> Sums:
        module, targets = self.modules[index % len(self.modules)], self.tile_targets[index]
        inside = [rows[:, None] * cols[None, :] for rows, cols in self.tile_inside[index]]
        with torch.autocast(tile.device.type, torch.bfloat16, enabled=self.autocast):
            features = module(tile, inside)
        core, counted = core_features(features, inside, self.plan, module)
        return tile_sums(core, counted, self.spec, 0, targets, self.style_layers, targets.means)

    def _device_tiles(self, whole: torch.Tensor) -> Iterator[tuple[int, tuple[int, int], torch.Tensor]]:
        """``tiles`` of the padded image, each on the device that evaluates it (a copy of the
        padded image per device, made once per pass)."""
        copies = [whole if device == whole.device else whole.to(device) for device in self.devices]
        for index, (y, x) in enumerate(self.plan.origins()):
            source = copies[index % len(copies)]
            yield index, (y, x), source[:, :, y : y + self.plan.side, x : x + self.plan.side]

    def terms(
        self, image: torch.Tensor, gradient: bool = True
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Pass 1: the loss terms; with ``gradient``, pass 2: d total / d image."""
        image = image.detach()
        whole = padded(image, self.plan)
        per_device: list[Sums] = [{} for _ in self.devices]
        with torch.no_grad():
            for index, _, tile in self._device_tiles(whole):
                add_sums(per_device[index % len(self.devices)], self._tile_sums(tile, index))
        sums: Sums = {}
        for part in per_device:
            add_sums(sums, {key: value.to(image.device) for key, value in part.items()})
        leaves = {key: value.detach().requires_grad_(gradient) for key, value in sums.items()}
        pixels = image.clone().requires_grad_(gradient)
        with torch.set_grad_enabled(gradient):
            content, style = loss_from_sums(leaves, self.targets, self.spec, self.plan, self.module)
            tv = self.spec.tv * tv_loss(pixels) if is_on(self.spec.tv) else content.new_zeros(())
            terms = {"content": content, "style": style, "tv": tv}
            if is_on(self.spec.temporal):
                terms["temporal"] = self.spec.temporal * temporal_loss(
                    pixels, self.targets.previous, self.targets.confidence
                )
            terms["total"] = sum(terms.values(), content.new_zeros(()))
        if not gradient:
            return terms, None
        terms["total"].backward()
        found = {key: leaf.grad for key, leaf in leaves.items() if leaf.grad is not None}
        coefficients = [{key: value.to(device) for key, value in found.items()} for device in self.devices]
        grads = [torch.zeros_like(whole, device=device) for device in self.devices]
        for index, (y, x), tile in self._device_tiles(whole):
            on = index % len(self.devices)
            tile = tile.detach().requires_grad_(True)
            part = self._tile_sums(tile, index)
            keys = [key for key in coefficients[on] if part[key].requires_grad]
            torch.autograd.backward([part[key] for key in keys], [coefficients[on][key] for key in keys])
            assert tile.grad is not None
            grads[on][:, :, y : y + self.plan.side, x : x + self.plan.side] += tile.grad
        grad = grads[0]
        for other in grads[1:]:
            grad = grad + other.to(grad.device)
        halo = self.plan.halo
        grad = grad[:, :, halo : halo + self.plan.height, halo : halo + self.plan.width]
        if pixels.grad is not None:
            grad = grad + pixels.grad
        return {key: value.detach() for key, value in terms.items()}, grad


@torch.no_grad()
def image_sums(
    module: VGGFeatures,
    image: torch.Tensor,
    plan: TilePlan,
    spec: LossSpec,
    layers: Sequence[str],
    guides: Mapping[str, np.ndarray] | None = None,
    shifts: Mapping[str, torch.Tensor] | None = None,
) -> Sums:
    """Style sums of a whole image over its tiles; with ``guides`` (per layer H_l x W_l, one
    style's guide on its image) the guided sums, with ``shifts`` the 'meancov' sums around them."""
    sums: Sums = {}
    whole = padded(image, plan)
    tile_guides = None
    for _, origin, tile in tiles(whole, plan):
        inside = inside_masks(plan, origin, tile.device)
        core, counted = core_features(module(tile, inside), inside, plan, module)
        if guides is not None:
            tile_guides = Targets(
                {},
                {},
                guides={
                    l: torch.from_numpy(core_crop(g[None, None], plan, origin, level_of(module.arch, l))).to(
                        tile.device
                    )
                    for l, g in guides.items()
                },
            )
        add_sums(sums, tile_sums(core, counted, spec, 0, tile_guides, layers, shifts))
    return sums


@torch.no_grad()
def tiled_targets(
    module: VGGFeatures,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    spec: LossSpec,
    guides: Guides | None,
    plan_for: Callable[[tuple[int, ...]], TilePlan],
    device: torch.device,
) -> Targets:
    """``nst.backends.torch.targets.blended_targets`` computed tile by tile. The content
    features and the output's guides are kept per tile core: ``content[l]`` is
    tiles x C x core_l x core_l, ``guides[l]`` tiles x S x core_l x core_l."""
    arch = module.arch
    plan = plan_for(content.shape)
    content_features = {}
    if spec.content:
        per_tile: dict[str, list[torch.Tensor]] = {l: [] for l, _ in spec.content}
        for _, origin, tile in tiles(padded(to_tensor(content, device), plan), plan):
            inside = inside_masks(plan, origin, device)
            core, _ = core_features(module(tile, inside), inside, plan, module)
            for layer in per_tile:
                per_tile[layer].append(core[layer])
        content_features = {layer: torch.stack(values) for layer, values in per_tile.items()}
    layers = [l for l, _ in spec.style]
    if guides is not None:
        grams: dict[str, torch.Tensor] = {}
        for style, style_guides in zip(styles, guides.styles):
            style_plan = plan_for(style.shape)
            sums = image_sums(module, to_tensor(style, device), style_plan, spec, layers, style_guides)
            for l in layers:
                gram = sums["gram", l] / sums["guide", l].clamp_min(GUIDE_FLOOR)[:, None, None]
                grams[l] = torch.cat([grams[l], gram]) if l in grams else gram
        output_guides = {
            l: torch.from_numpy(
                np.stack([core_crop(g, plan, origin, level_of(arch, l)) for origin in plan.origins()])
            ).to(device)
            for l, g in guides.output.items()
        }
        return Targets(
            content_features,
            grams,
            guides=output_guides,
            region_weights=torch.tensor(guides.weights, dtype=torch.float32, device=device),
        )
    grams = {}
    means: dict[str, torch.Tensor] = {}
    covs: dict[str, torch.Tensor] = {}
    for blend, style in zip(spec.style_blend, styles):
        style_plan = plan_for(style.shape)
        pixels = to_tensor(style, device)
        sums = image_sums(module, pixels, style_plan, spec, layers)
        for l in layers:
            count = layer_positions(style_plan, module.arch, l)
            if spec.style_loss == "meancov":
                mean = sums["mean", l] / count
                centred = image_sums(module, pixels, style_plan, spec, [l], shifts={l: mean})
                means[l] = means.get(l, 0) + blend * mean
                covs[l] = covs.get(l, 0) + blend * centred["cov", l] / count
            else:
                grams[l] = grams.get(l, 0) + blend * sums["gram", l] / count
    return Targets(content_features, grams, means, covs)


@torch.no_grad()
def tiled_statistics(
    module: VGGFeatures, image: np.ndarray, plan: TilePlan, device: torch.device
) -> LayerStatistics:
    """``nst.objective.LayerStatistics`` of every layer the module returns, tile by tile."""
    squares: dict[str, torch.Tensor] = {}
    grams: dict[str, torch.Tensor] = {}
    for _, origin, tile in tiles(padded(to_tensor(image, device), plan), plan):
        inside = inside_masks(plan, origin, device)
        core, _ = core_features(module(tile, inside), inside, plan, module)
        for layer, values in core.items():
            flat = values.double().reshape(values.shape[0], -1)
            squares[layer] = squares.get(layer, 0) + flat.pow(2).sum()
            grams[layer] = grams.get(layer, 0) + flat @ flat.T
    mean_square, gram = {}, {}
    for layer in squares:
        count = layer_positions(plan, module.arch, layer)
        mean_square[layer] = float(squares[layer]) / (count * module.arch.channels(layer))
        gram[layer] = (grams[layer] / count).cpu().numpy()
    return LayerStatistics(mean_square, gram)
