"""One image's optimisation problem: its inputs as read, its objective, and at each scale of
its plan the images resized to that scale with their targets on the network's device.

A ``Problem`` owns no network: it uses the one it is given, so that a batch's images and a
video's frames share one loaded network. ``nst.engine`` moves it to each scale in turn.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from nst import color
from nst import image as img
from nst.backend import Backend, Network
from nst.errors import NstError
from nst.masks import build_guides, load_masks
from nst.objective import LossSpec, Targets, resolved
from nst.options.config import Config
from nst.plan import ScalePlan

# What --init may name besides the path of an image.
INIT_NAMES = ("content", "recolored", "noise", "style")


@dataclass(frozen=True)
class Inputs:
    """The images at their own size and the masks, as read."""

    content: np.ndarray
    styles: list[tuple[np.ndarray, str]]  # each style image with how messages name it
    output_masks: list | None
    style_masks: list | None
    init_file: np.ndarray | None  # the --init image, when it is a file

    @classmethod
    def read(
        cls,
        cfg: Config,
        content,
        styles: Sequence,
        masks: Sequence | None = None,
        style_masks: Sequence | None = None,
    ) -> Inputs:
        """Read every source (paths, PIL images or arrays); ``masks`` / ``style_masks`` default to
        the config's ``mask`` / ``style_mask`` paths."""
        if not isinstance(styles, (list, tuple)):
            raise NstError(
                f"styles must be a list of style images (a single one in a list too), "
                f"got {img.describe_source(styles)}"
            )
        if not styles:
            raise NstError("no style image: give at least one")
        init_file = None
        if cfg.init not in INIT_NAMES:
            init_file = color.transfer_inputs(cfg.colors, img.load_image(cfg.init), [])[0]
        return cls(
            content=img.load_image(content),
            styles=[(img.load_image(source), img.describe_source(source)) for source in styles],
            output_masks=load_masks(
                cfg.mask if masks is None else masks, len(styles), "--mask", complement=True
            ),
            style_masks=load_masks(
                cfg.style_mask if style_masks is None else style_masks, len(styles), "--style-mask"
            ),
            init_file=init_file,
        )


@dataclass(frozen=True)
class Previous:
    """A video frame's link to the frame before (Ruder et al. 2016, ``nst.video``): that
    frame's output warped onto this one, where the optimisation starts and the target of the
    temporal term (``LossSpec.temporal`` = ``weight``), and the warp's per-pixel confidence."""

    image: np.ndarray  # H x W x 3, the output's colours
    confidence: np.ndarray  # H x W in [0, 1]
    weight: float


@dataclass(frozen=True)
class Scale:
    """The problem at one scale of its plan: the images resized to it, and their targets there."""

    plan: ScalePlan
    content: np.ndarray  # the user's colours
    content_input: np.ndarray  # what the network sees of it (after --colors)
    styles: list[np.ndarray]
    spec: LossSpec  # the objective at this scale ('relative' resolved against its targets)
    targets: Targets
    previous: np.ndarray | None = None  # Previous.image as the optimisation sees it, this size

    @property
    def size(self) -> int:
        return self.plan.size

    @property
    def tile(self) -> int | None:
        return self.plan.tile


class Problem:
    """One content image, its styles and one configuration, on a loaded network."""

    def __init__(
        self,
        cfg: Config,
        spec: LossSpec,
        inputs: Inputs,
        backend: Backend,
        net: Network,
        previous: Previous | None = None,
    ):
        self.cfg, self.spec, self.inputs = cfg, spec, inputs
        self.backend, self.net, self.previous = backend, net, previous
        self.scale: Scale | None = None  # the scale the problem is at (``move_to``)

    def move_to(self, plan: ScalePlan) -> Scale:
        """Resize to the scale ``plan`` and compute the targets there; the problem is then at it."""
        self.scale = self.at(plan)
        return self.scale

    def spec_at(self, size: int) -> LossSpec:
        """The objective at the scale of longest side ``size``: its own style layers' weights
        (``Config.style_terms``), 'relative' still unresolved."""
        return replace(self.spec, style=self.cfg.style_terms(size))

    def inputs_at(self, size: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """The content for longest side ``size``; what the network sees of it and of the styles.

        With --colors luminance the network sees grey images; with histogram, the styles
        recoloured to the content's colours. The first item keeps the user's colours.
        """
        min_side = 2 ** self.net.arch.downsampling(self.spec.layers)
        content = img.resize_longest(self.inputs.content, size)
        coarser = size < self.cfg.size  # a coarse scale of a multi-scale run
        img.check_min_size(
            content.shape[:2],
            min_side,
            f"content image at {size} px",
            "use fewer --scales or a larger --size" if coarser else "use a larger --size or image",
        )
        # --style-scale: the network's receptive fields are fixed in pixels, so a smaller style
        # image gives finer strokes. Grams are per-position averages (LossSpec): any size works.
        style_size = max(1, round(self.cfg.style_scale * size))
        styles = []
        for style, name in self.inputs.styles:
            style = img.resize_longest(style, style_size)
            img.check_min_size(
                style.shape[:2],
                min_side,
                f"style image {name} at {style_size} px",
                ("use fewer --scales, " if coarser else "use ") + "a larger --size or --style-scale",
            )
            styles.append(style)
        content_input, style_inputs = color.transfer_inputs(self.cfg.colors, content, styles)
        return content, content_input, style_inputs

    def at(self, plan: ScalePlan) -> Scale:
        """The images resized to the scale ``plan`` and their targets there."""
        content, content_input, styles = self.inputs_at(plan.size)
        guides = build_guides(
            self.inputs.output_masks,
            self.inputs.style_masks,
            content.shape[:2],
            styles,
            self.net.arch,
            [l for l, _ in self.spec.style],
            self.spec.style_blend,
        )
        statistics = functools.partial(self.net.statistics, tile=plan.tile)
        spec = resolved(self.spec_at(plan.size), statistics, content_input, styles)
        previous, temporal = None, None
        if self.previous is not None:
            height, width = content.shape[:2]
            warped = img.resize_to(self.previous.image, height, width)
            previous = color.transfer_inputs(self.cfg.colors, warped, [])[0]
            if spec.temporal:
                confidence = img.resize_to(self.previous.confidence[..., None], height, width)
                temporal = (previous, confidence[..., 0])
        targets = self.backend.prepare_targets(
            self.net, content_input, styles, spec, guides, temporal, plan.tile
        )
        return Scale(plan, content, content_input, styles, spec, targets, previous)

    def initial_image(self, scale: Scale) -> np.ndarray:
        """Where the optimisation starts, at ``scale`` (the plan's first)."""
        if scale.previous is not None:
            return scale.previous.copy()
        init, shape = self.cfg.init, scale.content.shape
        if init == "content":
            return scale.content_input.copy()
        if init == "recolored":
            # The photo's layout in the paintings' colours: the sky of a photo starts where the
            # style's colour statistics want it, instead of in a local minimum of its own.
            return self.recolored_photo(scale)
        if init == "noise":
            return np.random.default_rng(self.cfg.seed).random(shape, dtype=np.float32)
        if init == "style":
            source = scale.styles[0]
        elif self.inputs.init_file is not None:
            source = self.inputs.init_file
        else:
            raise NstError(f"--init {init!r} was not read")
        return img.resize_to(source, shape[0], shape[1])

    def recolored_photo(self, scale: Scale) -> np.ndarray:
        """The photo as the network sees it, in the paintings' colour mean and covariance."""
        stats = color.blended_color_statistics(scale.styles, self.spec.style_blend)
        return color.recolor(scale.content_input, *stats)

    def upsampled(self, image: np.ndarray, scale: Scale) -> np.ndarray:
        """``image``, the result of the coarser scale, resized to ``scale``, with
        ``--scale-detail`` times the photo's detail that the coarser size could not hold: the
        photo in the paintings' colours minus itself down at ``image``'s size and back."""
        height, width = scale.content.shape[:2]
        upsampled = img.resize_to(image, height, width)
        if not self.cfg.scale_detail:
            return upsampled
        photo = self.recolored_photo(scale)
        blurred = img.resize_to(img.resize_to(photo, *image.shape[:2]), height, width)
        detail = self.cfg.scale_detail * (photo - blurred)
        return np.clip(upsampled + detail, 0.0, 1.0).astype(np.float32)

    def output_image(self, image: np.ndarray, scale: Scale) -> np.ndarray:
        """An optimised image as the user gets it (with --colors luminance, the content's colours)."""
        content = scale.content
        if content.shape != image.shape:  # stopped while moving to the next scale
            content = img.resize_to(content, *image.shape[:2])
        return color.restore_content_colors(self.cfg.colors, image, content)
