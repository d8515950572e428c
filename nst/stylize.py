"""The driver: images and weights in, one optimisation on a backend, an image out.

``StyleTransfer`` is the lower-level object (targets, per-step callbacks, loss history);
``stylize`` is the one-call API. Neither touches the file system except to read inputs and
weights: writing results is the caller's job (the CLI writes atomically).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from nst import image as img
from nst.backend import Backend, resolve_backend
from nst.config import Config, make_config
from nst.errors import NonFiniteLoss, NstError
from nst.normalize import normalize_params


@dataclass(frozen=True)
class Progress:
    """What a callback sees after each chunk of steps."""

    step: int
    total: int
    losses: dict[str, float]
    seconds: float
    image: Callable[[], np.ndarray]


@dataclass
class Result:
    image: np.ndarray
    steps: int
    # None: all steps ran; "interrupted": Ctrl-C; "non-finite": the loss diverged and `image`
    # is the last iterate whose loss was finite.
    stopped: str | None = None
    history: list[dict] = field(default_factory=list)


class StyleTransfer:
    """One content image, one or more style images, one configuration, one backend."""

    def __init__(self, cfg: Config | None = None, backend: str | Backend | None = None,
                 weights=None, log: Callable[[str], None] | None = None):
        self.cfg = cfg or Config()
        self.backend = backend if hasattr(backend, "start") else resolve_backend(backend)
        self.log = log or (lambda message: None)
        self.weights = weights or _load_weights(self.cfg.weights)
        self.log(f"weights: {self.weights.name} ({self.weights.description})")
        self.net = None
        self.targets = None
        self.history: list[dict] = []

    def prepare(self, content, styles: Sequence) -> "StyleTransfer":
        cfg = self.cfg
        spec = cfg.loss_spec(len(styles))
        arch = self.weights.arch
        arch.check_layers(spec.layers)
        min_side = 2 ** arch.downsampling(spec.layers)
        self.content = img.resize_longest(img.load_image(content), cfg.size)
        img.check_min_size(self.content.shape[:2], min_side, "content image")
        self.styles = []
        for source in styles:
            style = img.resize_longest(img.load_image(source), cfg.size)
            img.check_min_size(style.shape[:2], min_side, f"style image {img.describe_source(source)}")
            self.styles.append(style)
        self.spec = spec
        self.init_file = None if cfg.init in ("content", "noise", "style") else img.load_image(cfg.init)
        params = self.weights.params
        if cfg.normalize_network:
            params = normalize_params(self.backend, params, arch, self.weights.preprocess,
                                      [self.content, *self.styles], spec.layers, cfg.pooling,
                                      cfg.device)
            self.log("normalised the network: mean activations over the content and style "
                     "images are 1")
        # A normalised network depends on the images: load it again for every prepare.
        if self.net is None or self.net.layers != spec.layers or cfg.normalize_network:
            self.net = self.backend.load_network(params, arch, self.weights.preprocess,
                                                 spec.layers, cfg.pooling, cfg.device)
        self.targets = self.backend.prepare_targets(self.net, self.content, self.styles, spec)
        return self

    def initial_image(self) -> np.ndarray:
        init, shape = self.cfg.init, self.content.shape
        if init == "content":
            return self.content.copy()
        if init == "noise":
            return np.random.default_rng(self.cfg.seed).random(shape, dtype=np.float32)
        source = self.styles[0] if init == "style" else self.init_file
        return img.resize_to(source, shape[0], shape[1])

    def run(self, callback: Callable[[Progress], None] | None = None) -> Result:
        """Optimise; Ctrl-C or a non-finite loss end the run early with the best image so far."""
        if self.targets is None:
            raise NstError("call prepare(content, styles) before run()")
        cfg, total = self.cfg, self.cfg.iterations
        last_good, done, self.history = self.initial_image(), 0, []
        try:
            optimization = self.backend.start(self.net, self.targets, last_good, self.spec, cfg)
            compile_seconds = getattr(optimization, "compile_seconds", None)
            if compile_seconds:
                self.log(f"compiled the optimisation step in {compile_seconds:.1f} s")
            started = time.perf_counter()
            for chunk in chunk_sizes(total, cfg.print_every, cfg.save_every):
                losses = optimization.advance(chunk)
                current = optimization.image()
                # The loss is that of an iterate inside the chunk; the image may have left the
                # finite range in the chunk's last update, so both are checked.
                if not (math.isfinite(losses["total"]) and np.isfinite(current).all()):
                    return Result(last_good, done, "non-finite", self.history)
                done, last_good = done + chunk, current
                seconds = time.perf_counter() - started
                self.history.append({"step": done, "seconds": seconds, **losses})
                if callback:
                    callback(Progress(done, total, losses, seconds, lambda: current))
        except KeyboardInterrupt:
            return Result(last_good, done, "interrupted", self.history)
        return Result(last_good, done, None, self.history)


def chunk_sizes(total: int, print_every: int, save_every: int):
    """Steps between host round-trips: up to the next stop where a progress line or a save is due."""
    done = 0
    while done < total:
        stop = min(total, (done // print_every + 1) * print_every)
        if save_every:
            stop = min(stop, (done // save_every + 1) * save_every)
        yield stop - done
        done = stop


def _load_weights(spec: str):
    from nst.weights import load_weights

    return load_weights(spec)


def stylize(content, style, *, backend: str | None = None, preset: str = "default",
            callback: Callable[[Progress], None] | None = None, **options):
    """Stylize ``content`` after ``style`` (a source or a list of sources) and return a PIL image.

    Sources are paths, PIL images or H x W x 3 arrays. ``options`` are ``Config`` fields
    (size, iterations, style_weight, ...). Ctrl-C propagates as KeyboardInterrupt; a diverged
    run raises ``NonFiniteLoss``.
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    transfer = StyleTransfer(make_config(preset, **options), backend).prepare(content, styles)
    result = transfer.run(callback)
    if result.stopped == "interrupted":
        raise KeyboardInterrupt
    if result.stopped == "non-finite":
        raise NonFiniteLoss(f"the loss became non-finite after step {result.steps}; "
                            f"try a smaller lr or style weight")
    return img.to_pil(result.image)
