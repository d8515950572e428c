"""The optimisation loop at one scale: L-BFGS (the paper) or Adam on the image pixels.

Loss terms stay on the device while steps run; they are read (one host synchronisation)
only when ``advance`` returns, i.e. when the driver's progress line or a save asks.
L-BFGS is ``DeviceLBFGS`` (its module says how it differs from torch.optim.LBFGS).

With ``Config.ema`` the image handed back is the bias-corrected exponential moving average
of the iterates x_1..x_t after every optimiser step, avg_t / (1 - decay^t) with
avg_t = decay * avg_{t-1} + (1 - decay) * x_t and avg_0 = 0, as in the JAX backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from nst.backends.torch.arrays import to_numpy, to_tensor
from nst.backends.torch.graphs import graphed_or_eager
from nst.backends.torch.lbfgs import DeviceLBFGS, Evaluate
from nst.backends.torch.losses import loss_terms
from nst.backends.torch.tiled import TiledEvaluation
from nst.backends.torch.vgg import VGGFeatures
from nst.objective import LossSpec, Targets
from nst.options.run_settings import ADAM_BETA1, RunSettings


class TorchOptimization:
    compile_seconds = 0.0  # eager: nothing is compiled
    may_capture = True  # CUDA graphs where the settings and the device allow them

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
        self.pixels = to_tensor(init, device)
        self.last_terms: dict[str, torch.Tensor] = {}
        self._adam_evaluations = 0
        self.autocast_bf16 = settings.precision == "bf16"
        self.ema = settings.ema
        self.average = torch.zeros_like(self.pixels) if self.ema else None
        self.averaged_steps = 0
        self.autotune_memory_released = not (self.pixels.is_cuda and settings.autotune)
        # Captured at the first evaluation, inside ``run_flags``: the kernels TF32 and the
        # autotuner choose are the ones replayed.
        self._capture = self.may_capture and settings.cuda_graphs and self.pixels.is_cuda and tiled is None
        self._graphed: Evaluate | None = None
        self.lbfgs: DeviceLBFGS | None = None
        self.adam: torch.optim.Adam | None = None
        if settings.optimizer == "lbfgs":
            flat = self.pixels.view(-1)
            self.lbfgs = DeviceLBFGS(
                flat, self._flat_terms_and_gradient, settings.lbfgs_history, settings.step_size, self._capture
            )
        else:
            self.pixels.requires_grad_(True)
            # fused: one kernel per step on CUDA instead of a handful launched from Python.
            self.adam = torch.optim.Adam(
                [self.pixels],
                lr=settings.step_size,
                betas=(ADAM_BETA1, settings.adam_beta2),
                fused=self.pixels.is_cuda or None,
            )

    @property
    def evaluations(self) -> int:
        return self._adam_evaluations if self.lbfgs is None else self.lbfgs.evaluations

    def terms_and_gradient(self, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The loss terms (detached) at ``image`` and the total's gradient there."""
        if not self._capture:
            return self._evaluate(image)
        if self._graphed is None:
            self._graphed = graphed_or_eager(self._evaluate, image)
        return self._graphed(image)

    def _evaluate(self, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if self.tiled is not None:
            terms, grad = self.tiled.terms(image)
            assert grad is not None
            return terms, grad
        image = image.detach().requires_grad_(True)
        # No autocast cache: a CUDA graph capture does not allow it, and each weight is cast once.
        with torch.autocast(
            image.device.type, torch.bfloat16, enabled=self.autocast_bf16, cache_enabled=False
        ):
            features = self.net(image)
        terms = loss_terms(features, self.targets, image, self.spec)
        terms["total"].backward()
        assert image.grad is not None
        return {k: v.detach() for k, v in terms.items()}, image.grad

    def _flat_terms_and_gradient(self, point: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        terms, grad = self.terms_and_gradient(point.view_as(self.pixels))
        return terms, grad.reshape(-1)

    def _adam_closure(self) -> torch.Tensor:
        self._adam_evaluations += 1
        self.last_terms, self.pixels.grad = self.terms_and_gradient(self.pixels)
        return self.last_terms["total"]

    def advance(self, steps: int) -> dict[str, float]:
        with run_flags(self.settings):
            self._steps(steps)
        self._release_autotune_memory()
        return {k: float(v) for k, v in self.last_terms.items()}

    def _steps(self, steps: int) -> None:
        for _ in range(steps):
            if self.lbfgs is not None:
                self.lbfgs.step()
                self.last_terms = self.lbfgs.terms
            else:
                assert self.adam is not None
                self.adam.step(self._adam_closure)
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
        if self.average is not None:
            self.average.mul_(self.ema).add_(self.pixels.detach(), alpha=1 - self.ema)
            self.averaged_steps += 1

    def image(self) -> np.ndarray:
        """The iterate, or with ``ema`` the bias-corrected average of the iterates so far."""
        if self.average is not None and self.averaged_steps:
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
