"""The optimisation loop at one scale: L-BFGS (the paper) or Adam on the image pixels.

Loss terms stay on the device while steps run; they are read (one host synchronisation)
only when ``advance`` returns, i.e. when the driver's progress line or a save asks.

With ``Config.ema`` the image handed back is the bias-corrected exponential moving average
of the iterates x_1..x_t after every optimiser step, avg_t / (1 - decay^t) with
avg_t = decay * avg_{t-1} + (1 - decay) * x_t and avg_0 = 0, as in the JAX backend. torch's
L-BFGS runs all of an ``advance``'s iterations inside one ``step`` call and shows its
closure only line-search trial points, never the accepted iterate; so with an average to
keep, each iteration is its own ``step`` call (the curvature history carries over, so the
iterates are the same). That costs one forward/backward more per iteration: ``step``
re-evaluates the closure at the point it starts from. Without ``ema`` nothing changes.
"""

from __future__ import annotations

import numpy as np
import torch

from nst.config import ADAM_BETA1, Config, LossSpec
from nst.backends.torch.losses import Targets, loss_terms
from nst.backends.torch.vgg import VGGFeatures


class TorchOptimization:
    def __init__(self, net: VGGFeatures, targets: Targets, init: np.ndarray, spec: LossSpec,
                 cfg: Config, device: torch.device):
        self.net, self.targets, self.spec = net, targets, spec
        self.pixels = to_tensor(init, device).requires_grad_(True)
        self.last_terms: dict[str, torch.Tensor] = {}
        self.autocast_bf16 = cfg.precision == "bf16"
        self.ema = cfg.ema
        self.average = torch.zeros_like(self.pixels) if self.ema else None
        self.averaged_steps = 0
        self.autotune_memory_released = not self.pixels.is_cuda
        set_tf32(cfg.precision == "tf32")
        if cfg.optimizer == "lbfgs":
            # Strong-Wolfe line search keeps lr=1 steps stable from any init (the paper's
            # Caffe L-BFGS had none; neural-style runs without one and sometimes diverges).
            # tolerance_grad below zero: never stop on a small gradient. tolerance_change stays
            # at torch's default: it also ends the line search's zoom once the bracket is that
            # narrow, and without it every zoom runs all its evaluations (docs/performance.md).
            self.optimizer = torch.optim.LBFGS(
                [self.pixels], lr=cfg.step_size, history_size=cfg.lbfgs_history,
                line_search_fn="strong_wolfe", tolerance_grad=-1)
        else:
            self.optimizer = torch.optim.Adam([self.pixels], lr=cfg.step_size,
                                              betas=(ADAM_BETA1, cfg.adam_beta2))

    def _closure(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.pixels.device.type, torch.bfloat16, enabled=self.autocast_bf16):
            features = self.net(self.pixels)
        terms = loss_terms(features, self.targets, self.pixels, self.spec)
        terms["total"].backward()
        self.last_terms = {k: v.detach() for k, v in terms.items()}
        return terms["total"]

    def advance(self, steps: int) -> dict[str, float]:
        if isinstance(self.optimizer, torch.optim.LBFGS):
            group = self.optimizer.param_groups[0]
            # One call runs `steps` iterations and keeps its curvature history across calls.
            # With an average to update, one iteration per call (see the module's docstring).
            per_call = 1 if self.ema else steps
            group["max_iter"] = per_call
            group["max_eval"] = per_call * 25
            for _ in range(steps // per_call):
                self.optimizer.step(self._closure)
                self._update_average()
        else:
            for _ in range(steps):
                self.optimizer.step(self._closure)
                self._update_average()
        self._release_autotune_memory()
        return {k: float(v) for k, v in self.last_terms.items()}

    def _release_autotune_memory(self) -> None:
        """Once the first steps have run, hand the allocator's cached blocks back to the driver.

        cuDNN's autotuner (``cudnn.benchmark``, set in backend.py) tries each convolution's
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


def set_tf32(enabled: bool) -> None:
    """TF32 is process-wide state in torch; each run sets it to what its precision asks."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """H x W x 3 numpy -> 1 x 3 x H x W float32 tensor on ``device``."""
    array = np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)[None])
    return torch.from_numpy(array).to(device)


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W -> a new H x W x 3 array (on CPU, .numpy() alone would share the
    optimiser's storage and change under the caller's feet)."""
    return np.array(image[0].permute(1, 2, 0).float().cpu().numpy())
