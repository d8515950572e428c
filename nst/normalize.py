"""The paper's normalised VGG (Gatys et al. 2016, section 2): each filter rescaled so that its
mean ReLU activation over the images and positions is 1.

With m_l the per-channel mean activation of relu layer l, measured once on the original
network, conv l becomes W_l'[k, j] = W_l[k, j] * m_{l-1}[j] / m_l[k] and b_l'[k] = b_l[k] / m_l[k]
(m_0 = 1 for the input pixels). ReLU, max pooling and average pooling commute with positive
per-channel scales, so every layer's activations become the original ones divided by m_l: the
network computes the same function up to a per-channel scale, and the loss terms change scale.
The paper measured the means over ImageNet validation images; here they are measured over the
images of the run (content and style images), each image weighted equally.

Backend-agnostic: the means come from a backend's ``load_network(...).features(...)``; the
result is a new canonical numpy parameter dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nst.arch import Arch


def normalize_params(
    backend,
    params: Mapping[str, np.ndarray],
    arch: Arch,
    preprocess,
    images: Sequence[np.ndarray],
    layers: Sequence[str],
    pooling: str,
    device: str,
) -> dict[str, np.ndarray]:
    """``params`` with every conv up to the deepest of ``layers`` normalised on ``images``."""
    relus = [name for name in arch.cut(layers) if name.startswith("relu")]
    net = backend.load_network(params, arch, preprocess, relus, pooling, device)
    return rescale(params, arch, mean_activations(net, images))


def mean_activations(net, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per layer of ``net``, each channel's activation averaged over positions, then images."""
    per_image = [net.features(image) for image in images]
    return {
        layer: np.mean([f[layer].mean(axis=(1, 2), dtype=np.float64) for f in per_image], axis=0)
        for layer in net.layers
    }


def rescale(
    params: Mapping[str, np.ndarray], arch: Arch, means: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Divide each conv's output channels by its relu's mean and undo the previous conv's
    division on its input channels. A channel whose mean is 0 (dead on these images) and a
    conv whose relu was not measured keep scale 1; the first conv after the measured ones
    still takes its inputs' scale, so the whole network keeps its function."""
    out = dict(params)
    previous = np.ones(arch.in_channels)
    for conv, _, width in arch.convs:
        mean = means.get(conv.replace("conv", "relu"))
        divisor = np.ones(width) if mean is None else np.where(mean > 0, mean, 1.0)
        weight = np.asarray(params[f"{conv}.weight"], np.float64)
        out[f"{conv}.weight"] = (
            weight * previous[None, :, None, None] / divisor[:, None, None, None]
        ).astype(np.float32)
        out[f"{conv}.bias"] = (np.asarray(params[f"{conv}.bias"], np.float64) / divisor).astype(np.float32)
        previous = divisor
    return out
