"""The objective: what a backend minimises, defined once for both backends and the oracle.

``LossSpec`` is the loss with its terms resolved to per-layer weights, so the two backends
compute the same objective from the same numbers; ``Targets`` is the shape in which a backend
keeps the targets of one run on its device (its arrays are the backend's own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from nst.errors import NstError

# Guards a guide that pooled away to nothing at a deep layer (its region is then skipped).
GUIDE_FLOOR = 1e-8
# The strong-Wolfe line search's most evaluations per L-BFGS iteration (torch.optim.LBFGS's).
LINESEARCH_EVALUATIONS = 25


@dataclass(frozen=True)
class LossSpec:
    """The objective, resolved: total = sum content[l]*C_l + sum style[l]*E_l + tv*TV
    (+ temporal*T for a video frame).

    The formulas, shared by both backends and the numpy oracle (``nst.reference``), with
    F the C x M feature matrix of a layer (C = N_l channels, M = H*W positions):
      Gram           G = F F^T / M   (per-position average; the paper's sum is M*G)
      style  'mse'   E = sum (G - A)^2 / C^4          == MSE of F F^T / (C*M)
             'paper' E = sum (G - A)^2 / (4 C^2)      == 1/(4 N^2 M^2) sum (FF^T - AA^T)^2
    With ``style_loss`` 'meancov' the style statistic is the per-channel mean and covariance,
      mu = F 1 / M,  S = (F - mu)(F - mu)^T / M   (population covariance; G = S + mu mu^T),
    compared with the targets mu_t = sum_i b_i mu_i and S_t = sum_i b_i S_i over the style
    images (b = style_blend, as the Gram target is A = sum_i b_i G_i):
             E = n * (2 C sum (mu - mu_t)^2 + sum (S - S_t)^2)
    with n the Gram's normaliser (1 / C^4 'mse', 1 / (4 C^2) 'paper'). The covariance term is
    the Gram term's S part exactly (G - A = (S - S_t) + (mu mu^T - mu_t mu_t^T)); the mean term
    is the Gram's mean part, ||1 dmu^T + dmu 1^T||^2 ~= 2 C ||dmu||^2 to first order, for a
    unit mean activation (VGG16's are of that order), so the same style weight suits both
    statistics (docs/losses.md has the measurements).
    Dividing the Gram by M makes targets from style images of another size comparable.
    With spatial guides (``--mask``, ``nst.masks``; Gatys et al. 2017's guided Grams), style s
    has a guide g_s on the output and h_s on its own image, pooled to each layer's grid, and
      G_s = sum_p g_s(p)^2 F_p F_p^T / sum_p g_s(p)^2,   A_s likewise from style s and h_s,
      E = sum_s r_s * (the 'mse' or 'paper' Gram error of G_s against A_s)
    with r_s = b_s * mean(g_s) / sum_t b_t * mean(g_t) (blend weight times the region's share
    of the output); a single all-white guide gives the plain Gram loss.
    """

    content: tuple[tuple[str, float], ...]
    style: tuple[tuple[str, float], ...]
    tv: float
    normalization: str
    style_blend: tuple[float, ...] = (1.0,)
    style_loss: str = "gram"
    temporal: float = 0.0

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([n for n, _ in self.content] + [n for n, _ in self.style]))

    @property
    def weights(self) -> LossWeights:
        return LossWeights(
            tuple(w for _, w in self.content), tuple(w for _, w in self.style), self.tv, self.temporal
        )

    def unweighted(self) -> LossSpec:
        """The objective's form without its numbers: each weight 1, or 0 for a term that is
        off. Under 'relative' every image pair has its own weights and the same form, so
        this is what a compiled step (JAX) or a batch of images is keyed on."""
        return self.weighted(LossWeights((1.0,) * len(self.content), (1.0,) * len(self.style), 1.0, 1.0))

    def weighted(self, weights: LossWeights) -> LossSpec:
        """This form with ``weights``, which may be a JAX step's traced arrays; a term that is
        off here stays off (its weight the literal 0.0, see ``is_on``)."""
        return replace(
            self,
            content=tuple((l, w) for (l, _), w in zip(self.content, weights.content)),
            style=tuple((l, w) for (l, _), w in zip(self.style, weights.style)),
            tv=weights.tv if is_on(self.tv) else 0.0,
            temporal=weights.temporal if is_on(self.temporal) else 0.0,
        )


class LossWeights(NamedTuple):
    """A ``LossSpec``'s numbers: per-layer content and style weights, TV and temporal."""

    content: tuple[Any, ...]
    style: tuple[Any, ...]
    tv: Any
    temporal: Any


def is_on(weight) -> bool:
    """Whether a term with this weight is computed: a number other than 0, or a traced array
    (``LossSpec.weighted`` keeps an off term's weight the literal 0.0)."""
    return not isinstance(weight, (int, float)) or weight != 0


def style_normaliser(squared, channels, normalization: str):
    """A squared style error scaled as ``LossSpec`` says: / C^4 ('mse') or / (4 C^2) ('paper').
    For the backends' tensors and arrays alike (``nst.reference`` spells it out on its own)."""
    if normalization == "mse":
        return squared / channels**4
    if normalization == "paper":
        return squared / (4 * channels**2)
    # 'relative' reaches a backend only if the driver did not resolve it (TermBaselines.divided).
    raise ValueError(f"no style normaliser for {normalization!r}")


def layer_weights(layers, weights, overall) -> tuple[tuple[str, float], ...]:
    """(layer, overall * w / sum(weights)) per layer; equal weights when ``weights`` is None."""
    weights = weights or (1.0,) * len(layers)
    total = sum(weights)
    if layers and total <= 0:
        raise NstError(f"layer weights for {', '.join(layers)} sum to zero")
    return tuple((name, overall * w / total) for name, w in zip(layers, weights))


class Targets(NamedTuple):
    """Content features and the blended style statistics of one run, as backend arrays.

    ``grams`` per style layer for ``style_loss`` 'gram' (C x C), ``means`` (C) and ``covs``
    (C x C) for 'meancov'; the others stay empty. With spatial guides (``nst.masks``),
    ``grams`` holds S x C x C guided Grams per layer, one per style image, ``guides`` the
    output's S x H x W guides per layer and ``region_weights`` the S region weights. For a
    video frame, ``previous`` is the previous output warped to this frame (an image in the
    backend's layout) and ``confidence`` its H x W per-pixel weight (``LossSpec.temporal``).
    A NamedTuple is a JAX pytree, so the JAX backend passes it into jitted functions as is:
    a new frame's arrays of the same shapes reuse the compiled step.
    """

    content: Mapping[str, Any]
    grams: Mapping[str, Any]
    means: Mapping[str, Any] = {}
    covs: Mapping[str, Any] = {}
    guides: Mapping[str, Any] = {}
    region_weights: Any = None
    previous: Any = None
    confidence: Any = None


@dataclass(frozen=True)
class TermBaselines:
    """Each loss term's value for all-zero features of the image, per layer, under 'mse':
    content mean(P^2) of the content features P, style ||A||^2 / C^4 of the blended Gram target
    A; and for the TV term the style images' total variation squared over the content's (see
    ``resolved``): its baseline. ``--normalization relative`` divides every term by its
    baseline, so each term measures a relative error and one weight suits any network,
    preprocessing and image pair."""

    content: Mapping[str, float]
    style: Mapping[str, float]
    tv: float = 1.0

    def divided(self, spec: LossSpec) -> LossSpec:
        """``spec`` (with 'mse' terms) with each term's weight divided by its baseline."""
        return LossSpec(
            content=tuple((l, w / self.content[l]) for l, w in spec.content),
            style=tuple((l, w / self.style[l]) for l, w in spec.style),
            tv=spec.tv / self.tv,
            normalization="mse",
            style_blend=spec.style_blend,
            style_loss=spec.style_loss,
            temporal=spec.temporal,
        )


def _floor(value: float) -> float:
    """A baseline of zero (all-zero features, a flat painting) leaves its weight unchanged."""
    return value if value > 0 else 1.0


class LayerStatistics(NamedTuple):
    """What ``TermBaselines`` needs of an image's features: per layer the mean square of its
    C x H x W features and its Gram matrix (C x C, ``LossSpec``'s G = F F^T / M). A backend
    computes them from whole features or tile by tile (``nst.tiling``)."""

    mean_square: Mapping[str, float]
    gram: Mapping[str, np.ndarray]


def statistics_of(features: Mapping[str, np.ndarray]) -> LayerStatistics:
    """``LayerStatistics`` of C x H x W features, in float64."""
    mean_square, grams = {}, {}
    for layer, values in features.items():
        flat = np.asarray(values, np.float64).reshape(values.shape[0], -1)
        mean_square[layer] = float(np.mean(np.square(flat)))
        grams[layer] = flat @ flat.T / flat.shape[1]
    return LayerStatistics(mean_square, grams)


def term_baselines(
    content: LayerStatistics,
    styles: Sequence[LayerStatistics],
    spec: LossSpec,
    tv: float = 1.0,
) -> TermBaselines:
    """``TermBaselines`` from the content's and the style images' ``LayerStatistics`` and the
    TV term's baseline. With masks or 'meancov' the baseline is still the plain blended Gram's:
    it sets a layer's weight, not its statistic."""
    content_baselines = {l: _floor(content.mean_square[l]) for l, _ in spec.content}
    style = {}
    for l, _ in spec.style:
        grams = [b * np.asarray(s.gram[l], np.float64) for b, s in zip(spec.style_blend, styles)]
        target = np.sum(grams, axis=0)
        style[l] = _floor(float(np.sum(np.square(target)) / target.shape[0] ** 4))
    return TermBaselines(content_baselines, style, _floor(tv))


def total_variation(image: np.ndarray) -> float:
    """The backends' TV term of an H x W x 3 image in [0, 1]: squared differences of
    neighbouring pixels, summed, over the number of values."""
    x = np.asarray(image, np.float64)
    return float((np.sum(np.square(np.diff(x, axis=0))) + np.sum(np.square(np.diff(x, axis=1)))) / x.size)


# A photo many times rougher than the painting is grainy, not detailed: past this ratio the
# smoothing would drown the style. The measured pairs span 0.12 to 3.2 (docs/quality.md).
MOST_PHOTO_ROUGHER = 4.0


def contrast(image: np.ndarray) -> float:
    """The variance of an H x W x C image's values, the mean over its channels."""
    x = np.asarray(image, np.float64)
    return float(x.reshape(-1, x.shape[-1]).var(axis=0).mean())


def roughness(total_variation_of_image: float, contrast_of_image: float) -> float:
    """An image's total variation in units of its own contrast: the same strokes at any
    brightness and contrast have the same roughness."""
    return total_variation_of_image / _floor(contrast_of_image)


def resolved(
    spec: LossSpec,
    statistics: Callable[[np.ndarray], LayerStatistics],
    content: np.ndarray,
    styles: Sequence[np.ndarray],
) -> LossSpec:
    """``spec`` as a backend computes it: 'relative' becomes 'mse' terms weighted by the
    ``TermBaselines`` of these images (``statistics``: a network's ``LayerStatistics`` of an
    image). The TV term counts the output's roughness in units of the paintings' own, times
    the square of how many times rougher the photo is than the paintings, each image's
    roughness in units of its own contrast: a flat painting's style is smoothed much, a busy
    one's strokes hardly at all, and a dark, low-contrast painting is not taken for a flat one
    (docs/quality.md)."""
    if spec.normalization != "relative":
        return spec
    tv_baseline = 1.0
    if spec.tv:
        painting = sum(b * total_variation(style) for b, style in zip(spec.style_blend, styles))
        painting_contrast = sum(b * contrast(style) for b, style in zip(spec.style_blend, styles))
        photo_rougher = roughness(total_variation(content), contrast(content)) / _floor(
            roughness(painting, painting_contrast)
        )
        photo_rougher = min(photo_rougher, MOST_PHOTO_ROUGHER)
        tv_baseline = painting / _floor(photo_rougher * photo_rougher)
    baselines = term_baselines(
        statistics(content), [statistics(style) for style in styles], spec, tv_baseline
    )
    return baselines.divided(spec)
