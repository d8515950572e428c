"""A run's plan, computed once before any work: per scale its size, steps, tile and L-BFGS
history, with the memory estimate against what the machine has; or the refusal, with its
message, when nothing fits.

``plan_run`` is the one place that decides how a run fits in memory. The engine runs the plan
as it is; ``nst stylize --plan`` prints it. On the CPU the estimate is the backend's fitted
memory model (``Backend.host_memory``, ``nst.memory``); accelerators are not estimated for
single runs, because their frameworks refuse an allocation cleanly (``nst.stylize`` turns that
into one line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nst import image as img
from nst import memory
from nst.arch import Arch
from nst.errors import NstError
from nst.options.config import Config
from nst.tiling import plan_tiles

# --tile auto's choices on the CPU, in order: the fastest tile side measured there first
# (docs/tiling.md#measurements), then a smaller one for less memory.
AUTO_TILE_SIDES = (512, 256)
# A CPU run (and an accelerator's batch) is planned into this share of the memory: the
# estimates are fits that err low on a poster's peak (docs/memory.md#tiled-runs), and the
# machine has other work.
MEMORY_SHARE = 0.85
# The shortest L-BFGS history a tiled CPU run (auto or --tile N) shortens to before it refuses.
MIN_AUTO_LBFGS_HISTORY = 10


@dataclass(frozen=True)
class ScalePlan:
    """One scale: its longest side and shape, its steps, its tile side (None: the whole image
    at once), the L-BFGS pairs it keeps and the estimated peak memory (None: not estimated)."""

    size: int
    height: int
    width: int
    steps: int
    tile: int | None
    lbfgs_history: int
    memory_bytes: float | None
    tiling: tuple[int, int, int] | None = None  # the tiles' core side in px, rows and columns


@dataclass(frozen=True)
class RunPlan:
    backend: str
    device: str
    optimizer: str
    precision: str
    scales: tuple[ScalePlan, ...]
    available_bytes: int | None  # what the CPU plan fits into (MEMORY_SHARE of RAM and swap)
    memory_note: str  # where the estimate comes from, or why there is none
    refusal: str | None = None  # the one-line reason the run cannot start

    @property
    def total_steps(self) -> int:
        return sum(scale.steps for scale in self.scales)

    @property
    def last(self) -> ScalePlan:
        return self.scales[-1]

    def check(self) -> RunPlan:
        """The plan, or the refusal as an NstError."""
        if self.refusal:
            raise NstError(self.refusal)
        return self

    def describe(self, seconds: float | None = None, seconds_source: str = "") -> str:
        """The plan as ``nst stylize --plan`` prints it; ``seconds`` an estimate of the time."""
        history = f", history {self.last.lbfgs_history}" if self.optimizer == "lbfgs" else ""
        lines = [
            f"backend {self.backend} on {self.device}, {self.optimizer}{history}, {self.precision}: "
            f"{len(self.scales)} scale(s), {self.total_steps} steps"
        ]
        for index, scale in enumerate(self.scales):
            tile = "whole image"
            if scale.tile is not None:
                core, rows, cols = scale.tiling or (scale.tile, 0, 0)
                tile = f"tiles of {core} px ({rows} x {cols})"
            pairs = (
                f", L-BFGS history {scale.lbfgs_history}"
                if self.optimizer == "lbfgs" and scale.lbfgs_history != self.last.lbfgs_history
                else ""
            )
            estimate = "" if scale.memory_bytes is None else f", about {_gib(scale.memory_bytes)} peak"
            lines.append(
                f"  scale {index + 1}: {scale.width}x{scale.height} px, {scale.steps} steps, {tile}"
                f"{pairs}{estimate}"
            )
        if self.available_bytes is not None:
            lines.append(f"memory: planned within {_gib(self.available_bytes)}; {self.memory_note}")
        else:
            lines.append(f"memory: {self.memory_note}")
        if seconds is not None:
            lines.append(f"time: about {seconds:.0f} s ({seconds_source})")
        else:
            lines.append(f"time: not estimated ({seconds_source or 'no measured step cost here'})")
        if self.refusal:
            lines.append(f"refused: {self.refusal}")
        return "\n".join(lines)


def _gib(value: float) -> str:
    return f"{value / memory.GIB:.1f} GiB"


def plan_run(
    content_shape: Sequence[int],
    cfg: Config,
    backend,
    arch: Arch,
    layers: Sequence[str],
    content_layers: Sequence[str],
    device: str,
    on_cpu: bool,
    machine_bytes: int | None = None,
) -> RunPlan:
    """The plan of a run of ``cfg`` on a content image of ``content_shape`` (H, W, ...).

    Off the CPU: --tile as given, memory not estimated. On the CPU, when the whole image's run
    would not fit MEMORY_SHARE of the machine (``machine_bytes``, default: RAM plus swap): the
    tile of --tile N, or with 'auto' the first of AUTO_TILE_SIDES whose run fits; where none
    fits with L-BFGS's history, a shorter history, in the first of those tiles where
    MIN_AUTO_LBFGS_HISTORY pairs fit; else a refusal that says what would fit."""
    height, width = content_shape[0], content_shape[1]
    model: memory.HostMemoryModel | None = getattr(backend, "host_memory", None)
    common = {
        "backend": backend.name,
        "device": device,
        "optimizer": cfg.optimizer,
        "precision": cfg.precision,
    }
    shapes = [img.longest_side_shape(height, width, size) for size in cfg.scale_sizes]
    if not on_cpu or model is None:
        why = (
            "not estimated off the CPU: the framework refuses an allocation that does not fit"
            if not on_cpu
            else f"no memory model for backend {backend.name}"
        )
        scales = tuple(
            ScalePlan(size, h, w, steps, cfg.tile_side, cfg.lbfgs_history, None)
            for size, (h, w), steps in zip(cfg.scale_sizes, shapes, cfg.steps_per_scale)
        )
        return RunPlan(**common, scales=scales, available_bytes=None, memory_note=why)
    machine = memory.machine_memory_bytes() if machine_bytes is None else machine_bytes
    budget = None if machine is None else int(MEMORY_SHARE * machine)
    fit = _CpuFit(cfg, model, arch, tuple(layers), tuple(content_layers), budget)
    scales_list, refusal = [], None
    for size, (h, w), steps in zip(cfg.scale_sizes, shapes, cfg.steps_per_scale):
        try:
            tile, history, peak = fit.at(h, w, size)
        except NstError as error:
            refusal = refusal or str(error)
            tile, history, peak = cfg.tile_side, cfg.lbfgs_history, None
        tiling = None
        if tile is not None:
            tiles = plan_tiles(h, w, tile, arch, layers)
            tiling = (tiles.core, tiles.rows, tiles.cols)
        scales_list.append(ScalePlan(size, h, w, steps, tile, history, peak, tiling))
    note = (
        f"{memory.describe_model(model)}; the machine has {_gib(machine)} of RAM and swap"
        if machine
        else "the machine's memory is unknown"
    )
    return RunPlan(
        **common, scales=tuple(scales_list), available_bytes=budget, memory_note=note, refusal=refusal
    )


@dataclass(frozen=True)
class _CpuFit:
    cfg: Config
    model: memory.HostMemoryModel
    arch: Arch
    layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    budget: int | None

    def whole(self, pixels: int) -> float:
        cfg = self.cfg
        return memory.estimated_peak_bytes(
            self.model, pixels, cfg.optimizer, cfg.lbfgs_history, self.arch, self.layers
        )

    def tiled(self, height: int, width: int, core: int, history: int) -> float:
        side = plan_tiles(height, width, core, self.arch, self.layers).side
        return memory.tiled_peak_bytes(
            self.model,
            height * width,
            side,
            self.cfg.optimizer,
            history,
            self.arch,
            self.layers,
            self.content_layers,
        )

    def at(self, height: int, width: int, size: int) -> tuple[int | None, int, float]:
        """(tile side or None, L-BFGS history, estimated peak bytes) of one scale."""
        cfg, budget, pixels = self.cfg, self.budget, height * width
        needed = self.whole(pixels)
        if cfg.tile_side is None and (budget is None or needed <= budget):
            return None, cfg.lbfgs_history, needed
        if cfg.tile_side is not None and (budget is None or needed <= budget):
            return (
                cfg.tile_side,
                cfg.lbfgs_history,
                self.tiled(height, width, cfg.tile_side, cfg.lbfgs_history),
            )
        assert budget is not None
        machine = budget / MEMORY_SHARE
        where = f"--size {size} ({width}x{height} px)"
        within = f"this machine has {_gib(machine)} of memory and swap (nst plans within {MEMORY_SHARE:.0%})"
        if cfg.tile == "off":
            raise NstError(
                f"{where} needs about {_gib(needed)} on the CPU and {within}; "
                "use --tile auto or a smaller --size"
            )

        def fitting_pairs(core: int) -> int:
            """The L-BFGS pairs that fit beside tiles of ``core`` px and the rest of the state."""
            without_pairs = self.tiled(height, width, core, 0)
            return int((budget - without_pairs) // (memory.LBFGS_BYTES_PER_PIXEL_PER_PAIR * pixels))

        sides = AUTO_TILE_SIDES if cfg.tile_side is None else (cfg.tile_side,)
        for core in sides:
            peak = self.tiled(height, width, core, cfg.lbfgs_history)
            if peak <= budget:
                return core, cfg.lbfgs_history, peak
        if cfg.optimizer == "lbfgs":
            for core in sides:
                pairs = fitting_pairs(core)
                if pairs >= MIN_AUTO_LBFGS_HISTORY:
                    return core, pairs, self.tiled(height, width, core, pairs)
        smallest = sides[-1]
        fitting = fitting_pairs(smallest)
        way_out = (
            f"a shorter --lbfgs-history ({fitting} fits), "
            if cfg.optimizer == "lbfgs" and fitting > 0
            else ""
        )
        raise NstError(
            f"{where} needs about {_gib(self.tiled(height, width, smallest, cfg.lbfgs_history))} on "
            f"the CPU even in tiles of {smallest} px and {within}; use {way_out}--optimizer adam "
            "or a smaller --size"
        )
