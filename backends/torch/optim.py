"""The optimisation loop at one scale: L-BFGS (the paper) or Adam on the image pixels.

Loss terms stay on the device while steps run; they are read (one host synchronisation)
only when ``advance`` returns, i.e. when the driver's progress line or a save asks.

With ``Config.ema`` the image handed back is the bias-corrected exponential moving average
of the iterates x_1..x_t after every optimiser step, avg_t / (1 - decay^t) with
avg_t = decay * avg_{t-1} + (1 - decay) * x_t and avg_0 = 0, as in the JAX backend. torch's
L-BFGS runs all of an ``advance``'s iterations inside one ``step`` call and shows its
closure only line-search trial points, never the accepted iterate; so with an average to
keep, each iteration is its own ``step`` call (the curvature history carries over, so the
iterates are the same).

Every ``step`` call of torch's L-BFGS begins by evaluating the closure at the point it starts
from, which the last call's line search has evaluated already (bench's evaluations per step,
docs/performance.md): once per ``advance``, and with ``ema`` once per iteration. The closure
answers that first call from the last evaluation when the pixels are that point's, bit for
bit, so the iterates stay the same and the evaluation is saved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from nst.backends.torch.arrays import to_numpy, to_tensor
from nst.backends.torch.losses import loss_terms
from nst.backends.torch.tiled import TiledEvaluation
from nst.backends.torch.vgg import VGGFeatures
from nst.objective import LINESEARCH_EVALUATIONS, LossSpec, Targets
from nst.run_settings import ADAM_BETA1, RunSettings


class TorchOptimization:
    compile_seconds = 0.0  # eager: nothing is compiled

    def __init__(
        self,
        net: VGGFeatures,
        targets: Targets,
        init: np.ndarray,
        spec: LossSpec,
        settings: RunSettings,
        device: torch.device,
        tiled: TiledEvaluation | None = None,
    ):
        self.tiled = tiled
        self.net, self.targets, self.spec, self.settings = net, targets, spec, settings
        self.pixels = to_tensor(init, device).requires_grad_(True)
        self.last_terms: dict[str, torch.Tensor] = {}
        self.evaluations = 0
        # L-BFGS: the last evaluated point's pixels, gradient and terms, and whether the next
        # closure call is the first of a ``step`` call (see the module's docstring).
        self._last_point: tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]] | None = None
        self._starting_step = False
        self.autocast_bf16 = settings.precision == "bf16"
        self.ema = settings.ema
        self.average = torch.zeros_like(self.pixels) if self.ema else None
        self.averaged_steps = 0
        self.autotune_memory_released = not (self.pixels.is_cuda and settings.autotune)
        self.optimizer: torch.optim.Optimizer
        if settings.optimizer == "lbfgs":
            # Strong-Wolfe line search keeps lr=1 steps stable from any init (the paper's
            # Caffe L-BFGS had none; neural-style runs without one and sometimes diverges).
            # tolerance_grad below zero: never stop on a small gradient. tolerance_change stays
            # at torch's default: it also ends the line search's zoom once the bracket is that
            # narrow, and without it every zoom runs all its evaluations (docs/performance.md).
            self.optimizer = torch.optim.LBFGS(
                [self.pixels],
                lr=settings.step_size,
                history_size=settings.lbfgs_history,
                line_search_fn="strong_wolfe",
                tolerance_grad=-1,
            )
        else:
            self.optimizer = torch.optim.Adam(
                [self.pixels], lr=settings.step_size, betas=(ADAM_BETA1, settings.adam_beta2)
            )

    def _closure(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        known = self._known_total()
        if known is not None:
            return known
        self.evaluations += 1
        if self.tiled is not None:
            self.last_terms, self.pixels.grad = self.tiled.terms(self.pixels)
        else:
            with torch.autocast(self.pixels.device.type, torch.bfloat16, enabled=self.autocast_bf16):
                features = self.net(self.pixels)
            terms = loss_terms(features, self.targets, self.pixels, self.spec)
            terms["total"].backward()
            self.last_terms = {k: v.detach() for k, v in terms.items()}
        self._keep_last_point()
        return self.last_terms["total"]

    def _known_total(self) -> torch.Tensor | None:
        """At a step call's first evaluation, the last evaluation's loss (its gradient set)
        when the pixels are that point's; else None (see the module's docstring)."""
        if not self._starting_step:
            return None
        self._starting_step = False
        last = self._last_point
        if last is None or not torch.equal(last[0], self.pixels.detach()):
            return None
        self.pixels.grad = last[1].clone()
        self.last_terms = last[2]
        return last[2]["total"]

    def _keep_last_point(self) -> None:
        if isinstance(self.optimizer, torch.optim.LBFGS):
            assert self.pixels.grad is not None
            self._last_point = (self.pixels.detach().clone(), self.pixels.grad.clone(), self.last_terms)

    def advance(self, steps: int) -> dict[str, float]:
        with run_flags(self.settings):
            self._steps(steps)
        self._release_autotune_memory()
        return {k: float(v) for k, v in self.last_terms.items()}

    def _steps(self, steps: int) -> None:
        if isinstance(self.optimizer, torch.optim.LBFGS):
            group = self.optimizer.param_groups[0]
            # One call runs `steps` iterations and keeps its curvature history across calls.
            # With an average to update, one iteration per call (see the module's docstring).
            per_call = 1 if self.ema else steps
            group["max_iter"] = per_call
            group["max_eval"] = per_call * LINESEARCH_EVALUATIONS
            for _ in range(steps // per_call):
                self._starting_step = True
                self.optimizer.step(self._closure)
                self._update_average()
        else:
            for _ in range(steps):
                self.optimizer.step(self._closure)
                self._update_average()

    def _release_autotune_memory(self) -> None:
        """Once the first steps have run, hand the allocator's cached blocks back to the driver.

        cuDNN's autotuner (``RunSettings.autotune``) tries each convolution's
        algorithms with their workspaces on the first forward and backward at a new shape: far
        more memory than the steps need (docs/performance.md#cudnn-autotune). torch's caching
        allocator would keep all of it reserved for the rest of the process, away from other
        processes and from JAX in this one; later steps need none of it.
        """
        if not self.autotune_memory_released:
            torch.cuda.empty_cache()
            self.autotune_memory_released = True

    def _update_average(self) -> None:
        if self.ema:
            self.average.mul_(self.ema).add_(self.pixels.detach(), alpha=1 - self.ema)
            self.averaged_steps += 1

    def image(self) -> np.ndarray:
        """The iterate, or with ``ema`` the bias-corrected average of the iterates so far."""
        if self.ema and self.averaged_steps:
            return to_numpy(self.average / (1 - self.ema**self.averaged_steps))
        return to_numpy(self.pixels.detach())


@contextlib.contextmanager
def run_flags(settings: RunSettings) -> Iterator[None]:
    """torch's process-wide TF32 and cuDNN-autotune switches as ``settings`` asks, for the
    steps of one ``advance``; what the caller had is restored afterwards."""
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    tf32 = settings.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = settings.autotune
    try:
        yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
        ) = saved
