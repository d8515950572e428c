"""Spatial control (Gatys et al. 2017, guided Gram matrices): which part of the output takes
its style from which style image, and from which part of it.

A guide is an H x W map in [0, 1], one per style image: on the output (``--mask``: where that
style goes) and on the style image (``--style-mask``: the part of the painting to take the
style from; default all of it). At each style layer a guide is average-pooled 2 x 2 as many
times as the network halves the image before that layer (flooring odd sides, as the network's
pooling does), so guide and features share one grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nst import image as img
from nst.arch import Arch
from nst.color import luminance
from nst.errors import NstError


@dataclass(frozen=True)
class Guides:
    """What a backend needs for guided style targets and losses, per style layer.

    output[l]: S x H_l x W_l, style s's guide on the output at layer l's grid;
    styles[s][l]: H_l x W_l, style s's guide on its own image at layer l's grid;
    weights: S region weights (blend weight times the region's share of the output, summing to 1).
    """

    output: dict[str, np.ndarray]
    styles: list[dict[str, np.ndarray]]
    weights: tuple[float, ...]


def load_masks(
    sources: Sequence | None, n_styles: int, flag: str, complement: bool = False
) -> list[np.ndarray] | None:
    """One H x W guide in [0, 1] per style image from paths, PIL images or arrays (colour
    images count by their luminance). With ``complement``, one mask for two styles: the
    second takes the rest."""
    if sources is None or len(sources) == 0:
        return None
    masks = [luminance(img.load_image(source)) for source in sources]
    if complement and len(masks) == 1 and n_styles == 2:
        masks.append(1.0 - masks[0])
    if len(masks) != n_styles:
        hint = " (or one for two styles: the second takes the rest)" if complement else ""
        raise NstError(
            f"{flag} has {len(masks)} masks for {n_styles} style images; give one per style image{hint}"
        )
    return masks


def pooled(guide: np.ndarray, times: int) -> np.ndarray:
    """2 x 2 average pooling, ``times`` times, dropping an odd last row or column."""
    for _ in range(times):
        height, width = guide.shape[0] // 2, guide.shape[1] // 2
        guide = guide[: 2 * height, : 2 * width].reshape(height, 2, width, 2).mean(axis=(1, 3))
    return guide


def layer_guides(guide: np.ndarray, arch: Arch, layers: Sequence[str]) -> dict[str, np.ndarray]:
    return {layer: pooled(guide, arch.downsampling([layer])).astype(np.float32) for layer in layers}


def build_guides(
    output_masks: list[np.ndarray] | None,
    style_masks: list[np.ndarray] | None,
    content_hw: tuple[int, int],
    styles: Sequence[np.ndarray],
    arch: Arch,
    layers: Sequence[str],
    blend: Sequence[float],
) -> Guides | None:
    """Guides at the current scale: masks resized to the content and to each style image."""
    if output_masks is None and style_masks is None:
        return None
    n = len(styles)

    def resize(mask, hw):
        return img.resize_to(mask[..., None], *hw)[..., 0]

    output = (
        [resize(m, content_hw) for m in output_masks]
        if output_masks
        else [np.ones(content_hw, np.float32)] * n
    )
    on_styles = (
        [resize(m, s.shape[:2]) for m, s in zip(style_masks, styles)]
        if style_masks
        else [np.ones(s.shape[:2], np.float32) for s in styles]
    )
    for which, guides in (("--mask", output), ("--style-mask", on_styles)):
        for index, guide in enumerate(guides):
            if not guide.any():
                raise NstError(
                    f"{which} for style image {index + 1} is black everywhere: "
                    f"that style would have no region"
                )
    shares = [b * float(g.mean()) for b, g in zip(blend, output)]
    return Guides(
        output={
            l: np.stack([pooled(g, arch.downsampling([l])) for g in output]).astype(np.float32)
            for l in layers
        },
        styles=[layer_guides(g, arch, layers) for g in on_styles],
        weights=tuple(share / sum(shares) for share in shares),
    )
