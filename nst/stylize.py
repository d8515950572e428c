"""The driver: images and weights in, one optimisation on a backend, an image out.

``StyleTransfer`` is the lower-level object (targets, per-step callbacks, loss history);
``stylize`` is the one-call API. Neither touches the file system except to read inputs and
weights: writing results is the caller's job (the CLI writes atomically).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from nst import color, memory
from nst import image as img
from nst.backend import Backend, Network, resolve_backend
from nst.config import Config, make_config
from nst.errors import NonFiniteLoss, NstError
from nst.events import Failed, Finished, OnEvent, Progress, ScaleDone, Started, Stopped
from nst.masks import build_guides, load_masks
from nst.normalize import normalize_params
from nst.objective import LossSpec, Targets, resolved
from nst.tiling import plan_tiles

T = TypeVar("T")
# --tile auto's choices on the CPU, in order: 512 px tiles are the fastest there at 2048 px on
# PyTorch, within 7% of 1024 px on JAX at half the memory (docs/tiling.md#measurements).
AUTO_TILE_SIDES = (512, 256)
# --tile auto plans a CPU run into this share of RAM and swap: the estimates are fits that
# miss a poster's peak by about 1 GiB (docs/memory.md#tiled-runs), and the machine has other work.
AUTO_MEMORY_SHARE = 0.85
# The shortest L-BFGS history a tiled CPU run (auto or --tile N) shortens to before it refuses.
MIN_AUTO_LBFGS_HISTORY = 10
# What --init may name besides the path of an image.
INIT_NAMES = ("content", "recolored", "noise", "style")


@dataclass
class Result:
    image: np.ndarray
    steps: int
    stopped: Stopped = Stopped.COMPLETED
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # of optimisation, compilation excluded


class StopRequest(Protocol):
    """What asks a run to stop between chunks (a ``threading.Event``)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Inputs:
    """What ``prepare`` read: the images at their own size and the masks."""

    content: np.ndarray
    styles: list[tuple[np.ndarray, str]]  # each style image with how messages name it
    output_masks: list | None
    style_masks: list | None
    init_file: np.ndarray | None  # the --init image, when it is a file


@dataclass(frozen=True)
class Previous:
    """A video frame's link to the frame before (Ruder et al. 2016, ``nst.video``): that
    frame's output warped onto this one, where the optimisation starts and the target of the
    temporal term (``LossSpec.temporal`` = ``weight``), and the warp's per-pixel confidence."""

    image: np.ndarray  # H x W x 3, the output's colours
    confidence: np.ndarray  # H x W in [0, 1]
    weight: float


@dataclass(frozen=True)
class MemoryFit:
    """How one scale runs in this machine's memory: its tile side (None: the whole image at
    once) and the L-BFGS history it keeps."""

    tile: int | None
    lbfgs_history: int


@dataclass(frozen=True)
class Scale:
    """One scale of the schedule: the images resized to it, and their targets there."""

    size: int
    content: np.ndarray  # the user's colours
    content_input: np.ndarray  # what the network sees of it (after --colors)
    styles: list[np.ndarray]
    spec: LossSpec  # the objective at this scale ('relative' resolved against its targets)
    targets: Targets
    previous: np.ndarray | None = None  # Previous.image as the optimisation sees it, this size
    tile: int | None = None  # the tile side in px (``nst.tiling``); None: the whole image at once
    lbfgs_history: int = 0  # the L-BFGS pairs kept (``MemoryFit``)


def _out_of_memory_as_error(method):
    """A failed allocation in ``method`` (numpy's MemoryError, or the backend's framework
    running out of host or device memory) becomes one NstError that says what to change."""

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            if isinstance(error, MemoryError):  # numpy, PIL: the host's memory
                where = "the host"
            elif self.backend.is_out_of_memory(error):
                where = self.net.device if self.net is not None else self.cfg.device
            else:
                raise
            raise NstError(
                f"out of memory on {where} at --size {self.cfg.size}; use a smaller --size or tiles "
                f"(--tile 1024, docs/tiling.md)"
            ) from error

    return checked


class StyleTransfer:
    """One content image, one or more style images, one configuration, one backend."""

    def __init__(
        self,
        cfg: Config | None = None,
        backend: str | Backend | None = None,
        weights=None,
        log: Callable[[str], None] | None = None,
    ):
        self.cfg = cfg or Config()
        self.backend: Backend = (
            resolve_backend(backend) if backend is None or isinstance(backend, str) else backend
        )
        self.log = log or (lambda message: None)
        self.weights = weights or _load_weights(self.cfg.weights, self.cfg.preprocess)
        self.log(
            f"weights: {self.weights.name} ({self.weights.description}); "
            f"preprocessing: {self.weights.preprocessing}"
        )
        # Set by prepare (the first three) and by each scale's use_scale.
        self._spec: LossSpec | None = None
        self._inputs: Inputs | None = None
        self._net: Network | None = None
        self._scale: Scale | None = None
        self._previous: Previous | None = None
        self.history: list[dict[str, Any]] = []

    def sibling(self) -> StyleTransfer:
        """A transfer with this one's configuration, backend, weights and loaded network, for
        another image pair (a batch holds one per image)."""
        if self._net is None:
            layers = self.cfg.loss_spec(1).layers
            self.weights.arch.check_layers(layers)
            self._net = self._loaded_network(self.weights.params, layers)
        other = StyleTransfer(self.cfg, self.backend, self.weights)
        other._net = self._net
        return other

    def _loaded_network(self, params, layers: tuple[str, ...]) -> Network:
        return self.backend.load_network(
            params, self.weights.arch, self.weights.preprocess, layers, self.cfg.pooling, self.cfg.device
        )

    def tiled(self) -> bool:
        """Whether the last scale runs tile by tile (``--tile``, or 'auto' on a small machine)."""
        return self._fit_at(self.cfg.scale_sizes[-1], self.inputs.content.shape, self.spec).tile is not None

    @property
    def spec(self) -> LossSpec:
        """The objective as the options give it ('relative' unresolved; see ``Scale.spec``)."""
        return _prepared(self._spec)

    @property
    def inputs(self) -> Inputs:
        return _prepared(self._inputs)

    @property
    def net(self) -> Network:
        return _prepared(self._net)

    @property
    def scale(self) -> Scale:
        return _prepared(self._scale)

    @_out_of_memory_as_error
    def prepare(
        self,
        content,
        styles: Sequence,
        masks: Sequence | None = None,
        style_masks: Sequence | None = None,
        previous: Previous | None = None,
    ) -> StyleTransfer:
        """Read the images, load the network and compute the targets of the first scale.

        ``masks`` / ``style_masks``: spatial control, one per style image (paths, PIL images or
        arrays); default: the config's ``mask`` / ``style_mask`` paths. ``previous``: a video
        frame's start and temporal target. A second prepare keeps the loaded network.
        """
        if not isinstance(styles, (list, tuple)):
            raise NstError(
                f"styles must be a list of style images (a single one in a list too), "
                f"got {img.describe_source(styles)}"
            )
        if not styles:
            raise NstError("no style image: give at least one")
        cfg = self.cfg
        spec = cfg.loss_spec(len(styles))
        if previous is not None:
            spec = replace(spec, temporal=previous.weight)
        self._previous = previous
        arch = self.weights.arch
        arch.check_layers(spec.layers)
        self._spec = spec
        content_image = img.load_image(content)
        self._fit_at(cfg.size, content_image.shape, spec)  # refuses what cannot fit, before any work
        init_file = None
        if cfg.init not in INIT_NAMES:
            init_file = color.transfer_inputs(cfg.colors, img.load_image(cfg.init), [])[0]
        self._inputs = Inputs(
            content=content_image,
            styles=[(img.load_image(source), img.describe_source(source)) for source in styles],
            output_masks=load_masks(
                cfg.mask if masks is None else masks, len(styles), "--mask", complement=True
            ),
            style_masks=load_masks(
                cfg.style_mask if style_masks is None else style_masks, len(styles), "--style-mask"
            ),
            init_file=init_file,
        )
        params = self.weights.params
        if cfg.normalize_network:
            # Measured on what the network sees at the final size (after --colors).
            _, content_input, style_inputs = self.inputs_at(cfg.size)
            params = normalize_params(
                self.backend,
                params,
                arch,
                self.weights.preprocess,
                [content_input, *style_inputs],
                spec.layers,
                cfg.pooling,
                cfg.device,
            )
            self.log("normalised the network: mean activations over the content and style images are 1")
        # A normalised network depends on the images: load it again for every prepare.
        if self._net is None or self._net.layers != spec.layers or cfg.normalize_network:
            self._net = self._loaded_network(params, spec.layers)
        self.use_scale(cfg.scale_sizes[0])
        return self

    def _on_cpu(self) -> bool:
        if self.cfg.device in ("auto", "all"):
            return all(d.startswith("cpu") for d in self.backend.devices())
        return self.cfg.device.startswith("cpu")  # a list is of one kind (nst.devices)

    def _fit_at(self, size: int, content_shape: tuple[int, ...], spec: LossSpec) -> MemoryFit:
        """How the scale of longest side ``size`` runs. Off the CPU: --tile as given. On the
        CPU, when the whole image's run would not fit this machine's memory (``nst.memory``):
        the tile of --tile N, or with 'auto' the first of AUTO_TILE_SIDES whose run fits; and
        where none fits with L-BFGS's history, a shorter history, in the first of those tiles
        where MIN_AUTO_LBFGS_HISTORY pairs fit. Refuses a CPU run that cannot fit at all,
        saying what would."""
        cfg = self.cfg
        if not self._on_cpu():
            return MemoryFit(cfg.tile_side, cfg.lbfgs_history)
        arch, layers = self.weights.arch, spec.layers
        height, width = img.longest_side_shape(content_shape[0], content_shape[1], size)
        pixels = height * width
        machine = memory.machine_memory_bytes()
        needed = memory.estimated_peak_bytes(
            self.backend.name, pixels, cfg.optimizer, cfg.lbfgs_history, arch, layers
        )
        if not needed or not machine or needed <= AUTO_MEMORY_SHARE * machine:
            return MemoryFit(cfg.tile_side, cfg.lbfgs_history)
        budget = AUTO_MEMORY_SHARE * machine
        where = f"--size {size} ({width}x{height} px)"
        if cfg.tile == "off":
            raise NstError(
                f"{where} needs about {needed / memory.GIB:.1f} GiB on the CPU and this machine has "
                f"{machine / memory.GIB:.1f} GiB of memory and swap (nst plans within "
                f"{AUTO_MEMORY_SHARE:.0%}); use --tile auto or a smaller --size"
            )
        content_layers = [l for l, _ in spec.content]

        def tiled_bytes(core: int, history: int) -> float:
            side = plan_tiles(height, width, core, arch, layers).side
            return memory.tiled_peak_bytes(
                self.backend.name, pixels, side, cfg.optimizer, history, arch, layers, content_layers
            )

        def fitting_pairs(core: int) -> int:
            """The L-BFGS pairs that fit beside tiles of ``core`` px and the rest of the state."""
            without_pairs = tiled_bytes(core, 0)
            return int((budget - without_pairs) // (memory.LBFGS_BYTES_PER_PIXEL_PER_PAIR * pixels))

        sides = AUTO_TILE_SIDES if cfg.tile_side is None else (cfg.tile_side,)
        for core in sides:
            if tiled_bytes(core, cfg.lbfgs_history) <= budget:
                return MemoryFit(core, cfg.lbfgs_history)
        if cfg.optimizer == "lbfgs":
            for core in sides:
                if fitting_pairs(core) >= MIN_AUTO_LBFGS_HISTORY:
                    return MemoryFit(core, fitting_pairs(core))
        smallest = sides[-1]
        fitting = fitting_pairs(smallest)
        way_out = (
            f"a shorter --lbfgs-history ({fitting} fits), "
            if cfg.optimizer == "lbfgs" and fitting > 0
            else ""
        )
        raise NstError(
            f"{where} needs about {tiled_bytes(smallest, cfg.lbfgs_history) / memory.GIB:.1f} GiB on "
            f"the CPU even in tiles of {smallest} px and this machine has {machine / memory.GIB:.1f} GiB "
            f"of memory and swap (nst plans within {AUTO_MEMORY_SHARE:.0%}); use {way_out}--optimizer adam "
            "or a smaller --size"
        )

    def inputs_at(self, size: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """The content for longest side ``size``; what the network sees of it and of the styles.

        With --colors luminance the network sees grey images; with histogram, the styles
        recoloured to the content's colours. The first item keeps the user's colours.
        """
        min_side = 2 ** self.weights.arch.downsampling(self.spec.layers)
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

    def use_scale(self, size: int) -> None:
        """Content and styles for longest side ``size``, and their targets there."""
        content, content_input, styles = self.inputs_at(size)
        guides = build_guides(
            self.inputs.output_masks,
            self.inputs.style_masks,
            content.shape[:2],
            styles,
            self.weights.arch,
            [l for l, _ in self.spec.style],
            self.spec.style_blend,
        )
        fit = self._fit_at(size, self.inputs.content.shape, self.spec)
        tile = fit.tile
        shortened = fit.lbfgs_history < self.cfg.lbfgs_history and self.cfg.optimizer == "lbfgs"
        if tile is not None and (self.cfg.tile == "auto" or shortened):
            plan = plan_tiles(content.shape[0], content.shape[1], tile, self.weights.arch, self.spec.layers)
            shorter = (
                f"; L-BFGS history shortened to {fit.lbfgs_history} pairs to fit (see --lbfgs-history)"
                if shortened
                else ""
            )
            self.log(
                f"{content.shape[1]}x{content.shape[0]} px does not fit in memory whole: "
                f"tiles of {plan.core} px, {plan.rows} x {plan.cols} (the same result, see --tile){shorter}"
            )
        spec = resolved(self.spec, functools.partial(self.net.statistics, tile=tile), content_input, styles)
        previous, temporal = None, None
        if self._previous is not None:
            height, width = content.shape[:2]
            warped = img.resize_to(self._previous.image, height, width)
            previous = color.transfer_inputs(self.cfg.colors, warped, [])[0]
            if spec.temporal:
                confidence = img.resize_to(self._previous.confidence[..., None], height, width)
                temporal = (previous, confidence[..., 0])
        targets = self.backend.prepare_targets(self.net, content_input, styles, spec, guides, temporal, tile)
        self._scale = Scale(
            size, content, content_input, styles, spec, targets, previous, tile, fit.lbfgs_history
        )

    @property
    def total_steps(self) -> int:
        return sum(self.cfg.steps_per_scale)

    def output_image(self, image: np.ndarray) -> np.ndarray:
        """An optimised image as the user gets it (with --colors luminance, the content's colours)."""
        content = self.scale.content
        if content.shape != image.shape:  # Ctrl-C while moving to the next scale
            content = img.resize_to(content, *image.shape[:2])
        return color.restore_content_colors(self.cfg.colors, image, content)

    def initial_image(self) -> np.ndarray:
        if self.scale.previous is not None:
            return self.scale.previous.copy()
        init, shape = self.cfg.init, self.scale.content.shape
        if init == "content":
            return self.scale.content_input.copy()
        if init == "recolored":
            # The photo's layout in the paintings' colours: the sky of a photo starts where the
            # style's colour statistics want it, instead of in a local minimum of its own.
            stats = color.blended_color_statistics(self.scale.styles, self.spec.style_blend)
            return color.recolor(self.scale.content_input, *stats)
        if init == "noise":
            return np.random.default_rng(self.cfg.seed).random(shape, dtype=np.float32)
        source = self.scale.styles[0] if init == "style" else _prepared(self.inputs.init_file)
        return img.resize_to(source, shape[0], shape[1])

    def run(
        self,
        callback: Callable[[Progress], None] | None = None,
        *,
        on_event: OnEvent | None = None,
        stop: StopRequest | None = None,
    ) -> Result:
        """Optimise at each scale in turn, starting each from the last one's result upsampled.

        ``callback`` sees each ``Progress``; ``on_event`` the whole stream (``nst.events``).
        Ctrl-C, a set ``stop`` or a non-finite loss end the run early with the best image so far.
        """
        emit = on_event or (lambda event: None)
        try:
            result = self._run(callback, emit, stop)
        except Exception as error:
            emit(Failed(describe_error(error)))
            raise
        emit(Finished(result.steps, result.stopped, result.seconds))
        return result

    @_out_of_memory_as_error
    def _run(self, callback, emit: OnEvent, stop: StopRequest | None) -> Result:
        if self._scale is None:
            raise NstError("call prepare(content, styles) before run()")
        cfg, total = self.cfg, self.total_steps
        sizes = cfg.scale_sizes
        last_good: np.ndarray | None = None
        done, self.history = 0, []
        started = time.perf_counter()
        emit(Started(tuple(sizes), tuple(cfg.steps_per_scale), self.backend.name, self.net.device))

        def result(image: np.ndarray, stopped: Stopped) -> Result:
            return self._result(image, done, stopped, time.perf_counter() - started)

        try:
            for index, (size, steps) in enumerate(zip(sizes, cfg.steps_per_scale)):
                if self.scale.size != size:  # a later scale, or a second run()
                    self.use_scale(size)
                height, width = self.scale.content.shape[:2]
                start_image = (
                    self.initial_image() if last_good is None else img.resize_to(last_good, height, width)
                )
                last_good = start_image
                if len(sizes) > 1:
                    self.log(f"scale {index + 1}/{len(sizes)}: {width}x{height} px, {steps} steps")
                optimization = self.backend.start(
                    self.net,
                    self.scale.targets,
                    start_image,
                    self.scale.spec,
                    replace(cfg.run_settings(), lbfgs_history=self.scale.lbfgs_history),
                    self.scale.tile,
                )
                if optimization.compile_seconds:
                    self.log(f"compiled the optimisation step in {optimization.compile_seconds:.1f} s")
                    started += optimization.compile_seconds  # progress times count optimisation only
                for chunk in chunk_sizes(steps, cfg.print_every, cfg.save_every, offset=done):
                    if stop is not None and stop.is_set():
                        return result(last_good, Stopped.STOPPED)
                    losses = optimization.advance(chunk)
                    current = optimization.image()
                    # The loss is that of an iterate inside the chunk; the image may have left
                    # the finite range in the chunk's last update, so both are checked.
                    if not (math.isfinite(losses["total"]) and np.isfinite(current).all()):
                        return result(last_good, Stopped.NON_FINITE)
                    done, last_good = done + chunk, current
                    seconds = time.perf_counter() - started
                    self.history.append({"step": done, "size": size, "seconds": seconds, **losses})
                    progress = Progress(
                        done,
                        total,
                        losses,
                        seconds,
                        functools.partial(self.output_image, current),
                        index,
                        size,
                    )
                    emit(progress)
                    if callback:
                        callback(progress)
                emit(ScaleDone(index, size, done))
        except KeyboardInterrupt:
            return result(self.initial_image() if last_good is None else last_good, Stopped.INTERRUPTED)
        return result(_prepared(last_good), Stopped.COMPLETED)

    def _result(self, image: np.ndarray, steps: int, stopped: Stopped, seconds: float) -> Result:
        return Result(self.output_image(image), steps, stopped, self.history, seconds)


def describe_error(error: Exception) -> str:
    """An NstError's own line; anything else (a bug, a framework error) with its type."""
    if isinstance(error, NstError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _prepared(value: T | None) -> T:
    if value is None:
        raise NstError("call prepare(content, styles) first")
    return value


def chunk_sizes(steps: int, print_every: int, save_every: int, offset: int = 0):
    """Steps between host round-trips: up to the next stop where a progress line or a save is
    due. ``offset`` is the step count before these ``steps`` (earlier scales), so stops stay on
    multiples of ``print_every`` and ``save_every`` across scales."""
    done, total = offset, offset + steps
    while done < total:
        stop = min(total, (done // print_every + 1) * print_every)
        if save_every:
            stop = min(stop, (done // save_every + 1) * save_every)
        yield stop - done
        done = stop


def _load_weights(spec: str, preprocess: str):
    from nst.weights import load_weights

    return load_weights(spec, preprocess=preprocess)


def stylize(
    content,
    style,
    *,
    backend: str | None = None,
    preset: str = "default",
    callback: Callable[[Progress], None] | None = None,
    **options,
):
    """Stylize ``content`` after ``style`` (a source or a list of sources) and return a PIL image.

    Sources are paths, PIL images or H x W x 3 arrays. ``options`` are ``Config`` fields
    (size, iterations, style_weight, ...). Ctrl-C propagates as KeyboardInterrupt; a diverged
    run raises ``NonFiniteLoss``.
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    transfer = StyleTransfer(make_config(preset, **options), backend).prepare(content, styles)
    result = transfer.run(callback)
    if result.stopped is Stopped.INTERRUPTED:
        raise KeyboardInterrupt
    if result.stopped is Stopped.NON_FINITE:
        raise NonFiniteLoss(
            f"the loss became non-finite after step {result.steps}; try a smaller lr or style weight"
        )
    return img.to_pil(result.image)
