"""The driver: images and weights in, one optimisation on a backend, an image out.

``StyleTransfer`` is the lower-level object (targets, per-step callbacks, loss history);
``stylize`` is the one-call API. Neither touches the file system except to read inputs and
weights: writing results is the caller's job (the CLI writes atomically).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from nst import engine
from nst import image as img
from nst.backend import Backend, Network, resolve_backend
from nst.engine import StopRequest, out_of_memory_message
from nst.errors import NonFiniteLoss, NstError
from nst.events import Event, OnEvent, Progress, Stopped
from nst.normalize import normalize_params
from nst.objective import LossSpec
from nst.options.config import Config, make_config
from nst.plan import RunPlan, plan_run
from nst.problem import Inputs, Previous, Problem, Scale


def _out_of_memory_as_error(method):
    """A failed allocation in ``method`` becomes one NstError that says what to change."""

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            device = self._network.device if self._network is not None else self.cfg.device
            reason = out_of_memory_message(error, self.backend, device, self.cfg.size)
            if reason is None:
                raise
            raise NstError(reason) from error

    return checked


T = TypeVar("T")


@dataclass
class Result:
    image: np.ndarray
    steps: int
    stopped: Stopped = Stopped.COMPLETED
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # of optimisation, compilation excluded


class StyleTransfer:
    """One content image, one or more style images, one configuration, one backend: the
    library's front door to ``nst.plan`` and ``nst.engine``."""

    def __init__(
        self,
        cfg: Config | None = None,
        backend: str | Backend | None = None,
        weights=None,
        log: Callable[[str], None] | None = None,
        network: Network | None = None,
    ):
        """``network``: an already loaded network of these weights to use (another transfer's
        ``net``), so that frames of a video or jobs of a batch load it once."""
        self.cfg = cfg or Config()
        self.backend: Backend = (
            resolve_backend(backend) if backend is None or isinstance(backend, str) else backend
        )
        self.log = log or (lambda message: None)
        self.weights = weights or _load_weights(self.cfg.weights, self.cfg.preprocess)
        if network is None:
            self.log(
                f"weights: {self.weights.name} ({self.weights.description}); "
                f"preprocessing: {self.weights.preprocessing}"
            )
        self._network = network
        self._problem: Problem | None = None
        self._plan: RunPlan | None = None
        self.history: list[dict[str, Any]] = []

    def with_config(self, cfg: Config) -> StyleTransfer:
        """A transfer of ``cfg`` on this one's backend, weights and loaded network."""
        return StyleTransfer(cfg, self.backend, self.weights, self.log, self.net if self._network else None)

    @property
    def problem(self) -> Problem:
        return _prepared(self._problem)

    @property
    def plan(self) -> RunPlan:
        return _prepared(self._plan)

    @property
    def spec(self) -> LossSpec:
        """The objective as the options give it ('relative' unresolved; see ``Scale.spec``)."""
        return self.problem.spec

    @property
    def inputs(self) -> Inputs:
        return self.problem.inputs

    @property
    def net(self) -> Network:
        return _prepared(self._network)

    @property
    def scale(self) -> Scale:
        """The scale the problem is at: the first after ``prepare``, the last after ``run``."""
        return _prepared(self.problem.scale)

    def tiled(self) -> bool:
        """Whether the last scale runs tile by tile (``--tile``, or 'auto' on a small machine)."""
        return self.plan.last.tile is not None

    def plan_for(self, content_shape: tuple[int, ...], spec: LossSpec) -> RunPlan:
        """The plan of a run of this configuration, with the objective ``spec``
        (``Config.loss_spec``), on a content image of ``content_shape``."""
        on_cpu = self._on_cpu()
        device = self._network.device if self._network is not None else self.cfg.device
        return plan_run(
            content_shape,
            self.cfg,
            self.backend,
            self.weights.arch,
            spec.layers,
            [l for l, _ in spec.content],
            "cpu" if on_cpu and device == "auto" else device,
            on_cpu,
        )

    @_out_of_memory_as_error
    def prepare(
        self,
        content,
        styles: Sequence,
        masks: Sequence | None = None,
        style_masks: Sequence | None = None,
        previous: Previous | None = None,
    ) -> StyleTransfer:
        """Read the images, plan the run, load the network and compute the targets of the
        first scale. Refuses, before loading anything, a run that cannot fit (``nst.plan``).

        ``masks`` / ``style_masks``: spatial control, one per style image (paths, PIL images or
        arrays); default: the config's ``mask`` / ``style_mask`` paths. ``previous``: a video
        frame's start and temporal target. A second prepare keeps the loaded network.
        """
        cfg = self.cfg
        inputs = Inputs.read(cfg, content, styles, masks, style_masks)
        spec = cfg.loss_spec(len(inputs.styles))
        if previous is not None:
            spec = replace(spec, temporal=previous.weight)
        self.weights.arch.check_layers(spec.layers)
        plan = self.plan_for(inputs.content.shape, spec).check()
        self._log_tiles(plan)
        params = self.weights.params
        if cfg.normalize_network:
            # Measured on what the network sees at the final size (after --colors).
            network = self._network or self._loaded_network(params, spec.layers)
            _, content_input, style_inputs = Problem(cfg, spec, inputs, self.backend, network).inputs_at(
                cfg.size
            )
            params = normalize_params(
                self.backend,
                params,
                self.weights.arch,
                self.weights.preprocess,
                [content_input, *style_inputs],
                spec.layers,
                cfg.pooling,
                cfg.device,
            )
            self.log("normalised the network: mean activations over the content and style images are 1")
        # A normalised network depends on the images: load it again for every prepare.
        if self._network is None or self._network.layers != spec.layers or cfg.normalize_network:
            self._network = self._loaded_network(params, spec.layers)
        self._plan = plan
        self._problem = Problem(cfg, spec, inputs, self.backend, self._network, previous)
        self._problem.move_to(plan.scales[0])
        return self

    def _loaded_network(self, params, layers: tuple[str, ...]) -> Network:
        return self.backend.load_network(
            params, self.weights.arch, self.weights.preprocess, layers, self.cfg.pooling, self.cfg.device
        )

    def _log_tiles(self, plan: RunPlan) -> None:
        """A line for each scale that runs in tiles, or with a shorter L-BFGS history, to fit."""
        for scale in plan.scales:
            shortened = scale.lbfgs_history < self.cfg.lbfgs_history and self.cfg.optimizer == "lbfgs"
            if scale.tiling is None or not (self.cfg.tile == "auto" or shortened):
                continue
            core, rows, cols = scale.tiling
            shorter = (
                f"; L-BFGS history shortened to {scale.lbfgs_history} pairs to fit (see --lbfgs-history)"
                if shortened
                else ""
            )
            self.log(
                f"{scale.width}x{scale.height} px does not fit in memory whole: "
                f"tiles of {core} px, {rows} x {cols} "
                f"(the same result, see --tile){shorter}"
            )

    def _on_cpu(self) -> bool:
        if self.cfg.device in ("auto", "all"):
            return all(d.startswith("cpu") for d in self.backend.devices())
        return self.cfg.device.startswith("cpu")  # a list is of one kind (nst.devices)

    @property
    def total_steps(self) -> int:
        return self.plan.total_steps

    def initial_image(self) -> np.ndarray:
        return self.problem.initial_image(self.scale)

    def output_image(self, image: np.ndarray) -> np.ndarray:
        """An optimised image as the user gets it (with --colors luminance, the content's colours)."""
        return self.problem.output_image(image, self.scale)

    def run(
        self,
        callback: Callable[[Progress], None] | None = None,
        *,
        on_event: OnEvent | None = None,
        stop: StopRequest | None = None,
    ) -> Result:
        """Optimise at each scale of the plan in turn, each from the last one's result upsampled.

        ``callback`` sees each ``Progress``; ``on_event`` the whole stream (``nst.events``).
        Ctrl-C, a set ``stop`` or a non-finite loss end the run early with the best image so far.
        """
        if self._problem is None:
            raise NstError("call prepare(content, styles) before run()")

        def on_each(event: Event) -> None:
            if on_event:
                on_event(event)
            if callback and isinstance(event, Progress):
                callback(event)

        (outcome,) = engine.run(
            self.plan,
            [self.problem],
            self.cfg.run_settings(),
            print_every=self.cfg.print_every,
            save_every=self.cfg.save_every,
            on_event=on_each,
            stop=stop,
            log=self.log,
        )
        self.history = outcome.history
        return Result(outcome.image, outcome.steps, outcome.stopped, outcome.history, outcome.seconds)


def _prepared(value: T | None) -> T:
    if value is None:
        raise NstError("call prepare(content, styles) first")
    return value


def _load_weights(weights_name: str, preprocess: str):
    from nst.weights import load_weights

    return load_weights(weights_name, preprocess=preprocess)


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
