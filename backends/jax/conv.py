"""The 3x3, stride 1, padding 1 convolution of VGG (NHWC x HWIO), with a hand-written input
gradient that XLA's CPU backend runs fast inside loops.

Why: JAX's own transpose rule writes the input gradient as a convolution whose kernel is
indexed "OI" (no explicit transpose). At the top level of a program XLA:CPU canonicalises
that into a transpose plus a fast Eigen convolution, but inside a while loop (our
``fori_loop`` of optimiser steps, and optax's line search) it does not and falls back to a
naive loop nest, much slower (docs/performance.md). Here the
input gradient is the same mathematics, the forward convolution of the output gradient with
the spatially flipped kernel whose in/out axes are swapped by an explicit transpose, which
XLA keeps canonical everywhere. Results agree with ``jax.grad`` of the plain convolution to
the last bit on CPU (tests/test_jax_backend.py).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

# XLA may run fp32 convolutions and matmuls in TF32/bf16 on GPUs and TPUs unless asked for
# full precision; on CPU they are fp32 anyway, so this only matters on accelerators.
HIGHEST = lax.Precision.HIGHEST

_LAYOUT = ("NHWC", "HWIO", "NHWC")


def fp32_precision(precision: str) -> lax.Precision:
    """How fp32 convolutions and matmuls run under ``Config.precision``: full fp32, except
    that 'tf32' lets them use TensorFloat-32 (HIGH: TF32 on GPUs, 3-pass bf16 on TPUs), as
    torch's process-wide allow_tf32 flags do for the torch backend."""
    return lax.Precision.HIGH if precision == "tf32" else HIGHEST


def _conv(x: jax.Array, kernel: jax.Array, precision: lax.Precision) -> jax.Array:
    return lax.conv_general_dilated(
        x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_LAYOUT, precision=precision
    )


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv3x3(x: jax.Array, kernel: jax.Array, precision: lax.Precision = HIGHEST) -> jax.Array:
    """N x H x W x I convolved with a 3 x 3 x I x O kernel -> N x H x W x O ('same' padding)."""
    return _conv(x, kernel, precision)


def _forward(x, kernel, precision):
    return _conv(x, kernel, precision), (x, kernel)


def _backward(precision, residuals, g):
    x, kernel = residuals
    flipped = jnp.transpose(jnp.flip(kernel, (0, 1)), (0, 1, 3, 2))
    # The kernel's gradient keeps JAX's rule; nst never asks for it (the network is frozen),
    # so XLA drops it as dead code, but the function stays correct for any caller.
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, precision), kernel)
    return _conv(g, flipped, precision), kernel_vjp(g)[0]


conv3x3.defvjp(_forward, _backward)
