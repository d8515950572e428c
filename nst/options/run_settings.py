"""What the optimiser loop of one scale needs from the options: the backends' part of ``Config``.

Frozen and hashable, so the JAX backend passes it to ``jax.jit`` as a static argument and a
second run with equal settings and shapes reuses the compiled step.
"""

from __future__ import annotations

from dataclasses import dataclass

# Adam's first-moment decay, both backends (torch's and optax's default).
ADAM_BETA1 = 0.9


@dataclass(frozen=True)
class RunSettings:
    optimizer: str  # 'lbfgs' or 'adam'
    step_size: float
    lbfgs_history: int
    adam_beta2: float
    ema: float = 0.0  # decay of the iterates' moving average; 0: off
    precision: str = "fp32"  # 'fp32', 'tf32' or 'bf16'
    # cuDNN picks each convolution's fastest algorithm by trying them at the first step of a
    # shape (torch on CUDA); the image's shape is fixed during a run, so that pays once.
    autotune: bool = True
    # torch on CUDA replays each evaluation from one CUDA graph (backends/torch/graphs.py).
    cuda_graphs: bool = True
