"""VGG features as a Flax module built from ``nst.arch.Arch``, cut after the deepest needed layer.

Flax linen, not nnx: a linen module is a stateless description whose ``apply`` is a pure
function of a parameter pytree held outside it. That is what ``jax.jit``, ``lax.fori_loop``
and buffer donation want, and the frozen weights travel as a plain argument of the compiled
step; an nnx module owns its state and would need split/merge around every jitted call.

Layout: NHWC inside (Flax's and XLA's native convolution layout); the backend turns features
into the torch backend's C x H x W only at the numpy boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from nst.arch import Arch, Preprocess
from nst.backends.jax.conv import conv3x3, fp32_precision
from nst.backends.jax.sharding import split_rows
from nst.weights import to_flax

# A tile's positions inside the image at one level: (rows, columns) vectors of 0 and 1.
Inside = tuple[jax.Array, jax.Array]


class Conv3x3(nn.Module):
    """nn.Conv's parameters (``kernel`` HWIO, ``bias``) around ``conv.conv3x3``, whose input
    gradient stays fast inside XLA:CPU loops (see there). With precision 'bf16' the input,
    kernel and bias are cast to bfloat16 and so is the output, like torch.autocast's conv2d."""

    features: int
    precision: str = "fp32"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        precision = fp32_precision(self.precision)
        if self.precision == "bf16":
            x, kernel, bias = (a.astype(jnp.bfloat16) for a in (x, kernel, bias))
            precision = jax.lax.Precision.DEFAULT  # bf16 operands: nothing to keep from rounding
        return conv3x3(x, kernel, precision) + bias


class VGGFeatures(nn.Module):
    """Frozen VGG features: maps an N x H x W x 3 RGB [0,1] batch to the requested layers'
    activations (N x H' x W' x C each). Preprocessing (channel order, pixel range, mean, std) is the
    first operation, so callers always work in RGB [0,1]. ``precision`` is ``Config.precision``;
    with 'bf16' the activations (and so the returned features) are bfloat16. With a ``mesh``
    (``nst.backends.jax.sharding``) every activation is split by rows over its devices."""

    arch: Arch
    preprocess: Preprocess
    layers: tuple[str, ...]
    pooling: str
    precision: str = "fp32"
    mesh: Mesh | None = None

    @nn.compact
    def __call__(self, x: jax.Array, inside: Sequence[Inside] | None = None) -> dict[str, jax.Array]:
        """``inside``: for a tile (``nst.tiling``), per level the (rows, columns) vectors that
        are 1 where the tile's positions lie inside the image; the rest is zeroed before each
        convolution, as the whole image's zero padding would be."""
        gain, shift = preprocess_constants(self.preprocess)
        if self.preprocess.order != (0, 1, 2):
            x = x[..., list(self.preprocess.order)]
        x = split_rows(x * gain - shift, self.mesh, 1)
        wanted, out, level = set(self.layers), {}, 0
        for name in self.arch.cut(self.layers):
            if name.startswith("conv"):
                if inside is not None:
                    rows, cols = inside[level]
                    x = x * (rows[:, None] * cols[None, :]).astype(x.dtype)[None, :, :, None]
                x = Conv3x3(self.arch.channels(name), self.precision, name=name)(x)
            elif name.startswith("relu"):
                x = nn.relu(x)
            else:
                if self.pooling == "avg":
                    x = nn.avg_pool(x, (2, 2), strides=(2, 2))
                else:
                    x = nn.max_pool(x, (2, 2), strides=(2, 2))
                level += 1
            x = split_rows(x, self.mesh, 1)
            if name in wanted:
                out[name] = x
        return out


def preprocess_constants(preprocess: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """pixel_max/std and mean/std, computed in float64 and rounded to fp32 as the torch backend does."""
    std = np.asarray(preprocess.std)
    return (
        (preprocess.pixel_max / std).astype(np.float32),
        (np.asarray(preprocess.mean) / std).astype(np.float32),
    )


def flax_params(
    params: Mapping[str, np.ndarray], arch: Arch, layers: Sequence[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Canonical OIHW parameters -> linen's ``{"conv1_1": {"kernel": HWIO, "bias"}}``, keeping
    only the convolutions the cut network runs (the rest never reach the device)."""
    needed = [name for name in arch.cut(layers) if name.startswith("conv")]
    tree = to_flax(params)
    return {name: {k: np.asarray(v, np.float32) for k, v in tree[name].items()} for name in needed}


def apply_features(
    module: VGGFeatures, params, image: jax.Array, inside: Sequence[Inside] | None = None
) -> dict[str, jax.Array]:
    """Features of one H x W x 3 image, each H' x W' x C (the batch axis dropped); ``inside``
    as ``VGGFeatures`` takes it."""
    # apply returns an (output, state) pair only when told ``mutable``.
    out = cast("dict[str, jax.Array]", module.apply({"params": params}, image[None], inside))
    return {name: value[0] for name, value in out.items()}
