"""The one run loop: over the scales of a plan and the chunks of steps at each, for one image
or a batch of images of one shape.

Every front door (``StyleTransfer``, the batch worker, the video driver, the studio) builds
its ``Problem``s and a ``RunPlan`` and calls ``run``. The loop handles, once for all of them:
each scale starting from the last one's images upsampled; a non-finite loss (that image keeps
its last finite iterate and leaves the run; the others go on); Ctrl-C and a caller's stop
request (every image keeps its current iterate); running out of memory (one line); and the
event stream (``nst.events``) that progress bars, callbacks, manifests and the studio consume.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from nst.backend import Backend, BatchOptimization, Optimization
from nst.errors import NstError
from nst.events import Failed, Finished, OnEvent, Progress, ScaleDone, Started, Stopped
from nst.options.run_settings import RunSettings
from nst.plan import RunPlan
from nst.problem import Problem, Scale


class StopRequest(Protocol):
    """What asks a run to stop between chunks (a ``threading.Event``)."""

    def is_set(self) -> bool: ...


@dataclass
class Outcome:
    """How one image's run ended: its image as the user gets it, the steps it kept, the loss
    terms of its last finite iterate, and its loss history (one entry per chunk)."""

    image: np.ndarray
    steps: int
    stopped: Stopped
    losses: dict[str, float] | None
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # of optimisation, compilation excluded


def run(
    plan: RunPlan,
    problems: Sequence[Problem],
    settings: RunSettings,
    *,
    print_every: int,
    save_every: int = 0,
    on_event: OnEvent | None = None,
    stop: StopRequest | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run ``plan`` for every problem (one network, one shape at every scale); return one
    ``Outcome`` per problem, in order. An error emits ``Failed`` and is raised, out of memory as
    an NstError that says what to change."""
    emit = on_event or _ignore
    loop = _Loop(plan, list(problems), settings, print_every, save_every, emit, stop, log or _ignore)
    try:
        outcomes = loop.run()
    except Exception as error:
        reason = out_of_memory_message(error, loop.backend, loop.net.device, plan.last.size, len(problems))
        emit(Failed(reason or describe_error(error)))
        if reason:
            raise NstError(reason) from error
        raise
    emit(Finished(max(o.steps for o in outcomes), _overall(outcomes), loop.seconds()))
    return outcomes


def out_of_memory_message(error: Exception, backend: Backend, device: str, size: int, images: int = 1):
    """The line for a failed allocation (numpy's MemoryError, or the framework running out of
    host or device memory); None for any other error."""
    if isinstance(error, MemoryError):  # numpy, PIL: the host's memory
        where = "the host"
    elif backend.is_out_of_memory(error):
        where = device
    else:
        return None
    if images > 1:
        return f"out of memory on {where} with {images} images in one batch; use a smaller --batch-size"
    return (
        f"out of memory on {where} at --size {size}; use a smaller --size or tiles "
        "(--tile 1024, docs/tiling.md)"
    )


def describe_error(error: Exception) -> str:
    """An NstError's own line; anything else (a bug, a framework error) with its type."""
    if isinstance(error, NstError):
        return str(error)
    return f"{type(error).__name__}: {error}"


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


def _ignore(_) -> None:
    pass


def _overall(outcomes: list[Outcome]) -> Stopped:
    ends = {o.stopped for o in outcomes}
    for reason in (Stopped.INTERRUPTED, Stopped.STOPPED):
        if reason in ends:
            return reason
    return Stopped.NON_FINITE if ends == {Stopped.NON_FINITE} else Stopped.COMPLETED


class _Single:
    """One image's ``Optimization`` as a batch of one."""

    def __init__(self, optimization: Optimization):
        self.optimization = optimization
        self.compile_seconds = optimization.compile_seconds

    def advance(self, steps: int) -> list[dict[str, float]]:
        return [self.optimization.advance(steps)]

    def images(self) -> list[np.ndarray]:
        return [self.optimization.image()]


class _Loop:
    def __init__(
        self,
        plan: RunPlan,
        problems: list[Problem],
        settings: RunSettings,
        print_every: int,
        save_every: int,
        emit: OnEvent,
        stop: StopRequest | None,
        log: Callable[[str], None],
    ):
        self.plan, self.problems, self.settings = plan, problems, settings
        self.print_every, self.save_every = print_every, save_every
        self.emit, self.stop, self.log = emit, stop, log
        self.backend, self.net = problems[0].backend, problems[0].net
        count = len(problems)
        self.last: list[np.ndarray | None] = [None] * count  # each image's last finite iterate
        self.losses: list[dict[str, float] | None] = [None] * count
        self.steps = [0] * count
        self.ended: list[Stopped | None] = [None] * count
        self.history: list[list[dict]] = [[] for _ in problems]
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def run(self) -> list[Outcome]:
        plan = self.plan
        self.emit(
            Started(
                tuple(s.size for s in plan.scales),
                tuple(s.steps for s in plan.scales),
                self.backend.name,
                self.net.device,
            )
        )
        done = 0
        try:
            for index, scale_plan in enumerate(plan.scales):
                running = [k for k, ended in enumerate(self.ended) if ended is None]
                if not running:
                    break
                for k in running:
                    self._move(k, scale_plan)
                if len(plan.scales) > 1:
                    self.log(
                        f"scale {index + 1}/{len(plan.scales)}: {scale_plan.width}x{scale_plan.height} px, "
                        f"{scale_plan.steps} steps"
                    )
                optimization = self._start(running, scale_plan.lbfgs_history, scale_plan.tile)
                if optimization.compile_seconds:
                    self.log(f"compiled the optimisation step in {optimization.compile_seconds:.1f} s")
                    self.started += optimization.compile_seconds  # progress times count optimisation only
                for chunk in chunk_sizes(scale_plan.steps, self.print_every, self.save_every, offset=done):
                    if self.stop is not None and self.stop.is_set():
                        return self._end_all(Stopped.STOPPED)
                    terms = optimization.advance(chunk)
                    done += chunk
                    self._record(running, optimization.images(), terms, done, index)
                    if all(self.ended[k] is not None for k in running):
                        break
                self.emit(ScaleDone(index, scale_plan.size, done))
        except KeyboardInterrupt:
            return self._end_all(Stopped.INTERRUPTED)
        return self._end_all(Stopped.COMPLETED)

    def _move(self, k: int, scale_plan) -> None:
        """Image ``k``'s problem at ``scale_plan``, starting from its last image there."""
        problem = self.problems[k]
        if problem.scale is None or problem.scale.plan != scale_plan:
            problem.move_to(scale_plan)
        scale = _current(problem)
        last = self.last[k]
        self.last[k] = problem.initial_image(scale) if last is None else problem.upsampled(last, scale)

    def _start(self, running: list[int], lbfgs_history: int, tile: int | None) -> BatchOptimization:
        settings = replace(self.settings, lbfgs_history=lbfgs_history)
        scales = [_current(self.problems[k]) for k in running]
        inits = [_known(self.last[k]) for k in running]
        if len(running) == 1:
            scale = scales[0]
            return _Single(self.backend.start(self.net, scale.targets, inits[0], scale.spec, settings, tile))
        targets, specs = [s.targets for s in scales], [s.spec for s in scales]
        return self.backend.start_batch(self.net, targets, inits, specs, settings)

    def _record(self, running, images, terms, done: int, index: int) -> None:
        seconds = self.seconds()
        size, total = self.plan.scales[index].size, self.plan.total_steps
        for k, image, losses in zip(running, images, terms):
            if self.ended[k] is not None:
                continue
            # The loss is that of an iterate inside the chunk; the image may have left the
            # finite range in the chunk's last update, so both are checked.
            if not (math.isfinite(losses["total"]) and np.isfinite(image).all()):
                self.ended[k] = Stopped.NON_FINITE
                continue
            self.last[k], self.losses[k], self.steps[k] = image, losses, done
            self.history[k].append({"step": done, "size": size, "seconds": seconds, **losses})
            problem = self.problems[k]
            picture = functools.partial(problem.output_image, image, _current(problem))
            self.emit(Progress(done, total, losses, seconds, picture, index, size, k))

    def _end_all(self, reason: Stopped) -> list[Outcome]:
        outcomes = []
        for k, problem in enumerate(self.problems):
            scale = _current(problem)
            last = self.last[k]
            image = problem.initial_image(scale) if last is None else last
            stopped = self.ended[k] or reason
            outcomes.append(
                Outcome(
                    problem.output_image(image, scale),
                    self.steps[k],
                    stopped,
                    self.losses[k],
                    self.history[k],
                    self.seconds(),
                )
            )
        return outcomes


def _current(problem: Problem) -> Scale:
    if problem.scale is None:
        raise NstError("the problem has no scale yet: move_to(plan.scales[0]) first")
    return problem.scale


def _known(image: np.ndarray | None) -> np.ndarray:
    if image is None:
        raise NstError("no start image")
    return image
