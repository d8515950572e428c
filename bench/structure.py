"""Does an output keep its photo's structure, and does it paint in objects the photo lacks?

Three checks that the judge's two distances do not make on their own (issue 26: thin
structures dissolve, and faces from the painting appear as ghosts):

- edge recall: the share of the photo's Canny edges (luminance, sigma 1.5, at the output's
  size) that have an edge of the output within 2 px;
- faces: how many faces scikit-image's LBP frontal-face cascade finds, overlapping detections
  counted once;
- the judge's content distance per AlexNet layer: conv5 sees the layout, conv1-2 thin detail.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bench.judge import ALEXNET, Judge, Target
from nst import image as img
from nst.errors import NstError

EDGE_SIGMA = 1.5
EDGE_TOLERANCE_PX = 2
FACE_IMAGE_SIZE = 512  # the cascade's window sizes below are in pixels of this size


def check_installed() -> None:
    """Refuse, before any run, a bench whose checks could not run."""
    try:
        import skimage.feature  # noqa: F401
    except ImportError:
        raise NstError("the structure checks need scikit-image: pip install 'nst[bench]'") from None


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an H x W x 3 image in [0, 1]."""
    return image @ np.array([0.299, 0.587, 0.114], np.float32)


def edges(image: np.ndarray) -> np.ndarray:
    from skimage.feature import canny

    return canny(luminance(image), sigma=EDGE_SIGMA)


def edge_recall(photo: np.ndarray, output: np.ndarray) -> float | None:
    """The share of ``photo``'s edges that ``output`` has within 2 px; None when the photo has
    no edges to keep."""
    from scipy.ndimage import binary_dilation
    from skimage.morphology import disk

    wanted = edges(img.resize_to(photo, *output.shape[:2]))
    if not wanted.any():
        return None
    near = binary_dilation(edges(output), structure=disk(EDGE_TOLERANCE_PX))
    return float(np.mean(near[wanted]))


@lru_cache(maxsize=1)
def _face_cascade():
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def merge_overlapping(boxes: list[dict]) -> list[list[dict]]:
    """Groups of detections (``{'r', 'c', 'width', 'height'}``) joined by any overlap, directly
    or through others: the cascade reports one face several times, at nearby scales."""
    groups: list[list[dict]] = []
    for box in boxes:
        touching = [group for group in groups if any(_overlap(box, other) for other in group)]
        merged = [box] + [member for group in touching for member in group]
        groups = [group for group in groups if group not in touching] + [merged]
    return groups


def _overlap(a: dict, b: dict) -> bool:
    rows = min(a["r"] + a["height"], b["r"] + b["height"]) - max(a["r"], b["r"])
    cols = min(a["c"] + a["width"], b["c"] + b["width"]) - max(a["c"], b["c"])
    return rows > 0 and cols > 0


def count_faces(image: np.ndarray) -> int:
    """Faces the LBP frontal-face cascade finds in ``image`` at 512 px longest side."""
    detections = _face_cascade().detect_multi_scale(
        img=img.resize_longest(image, FACE_IMAGE_SIZE),
        scale_factor=1.2,
        step_ratio=1,
        min_size=(24, 24),
        max_size=(400, 400),
    )
    return len(merge_overlapping(detections))


def content_by_layer(judge: Judge, output: np.ndarray, target: Target) -> dict[str, float]:
    """The judge's content distance at each AlexNet layer; their mean is the judge's content
    distance."""
    features = judge.features(img.resize_to(output, *target.shape))
    return {
        name: float(np.mean((f - c) ** 2) / np.mean(c**2))
        for (name, *_), f, c in zip(ALEXNET, features, target.content, strict=True)
    }


def structure(judge: Judge, photo: np.ndarray, output: np.ndarray, target: Target) -> dict:
    """The three checks of ``output`` against its ``photo``, as the report keeps them."""
    return {
        "edge_recall": edge_recall(photo, output),
        "faces": count_faces(output),
        "content_by_layer": content_by_layer(judge, output, target),
    }
