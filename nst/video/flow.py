"""From one frame to the next (Ruder, Dosovitskiy & Brox 2016): optical flow, warping, and the
per-pixel confidence of the warp.

Flows are H x W x 2 arrays (dx, dy) in pixels; ``flow(a, b)`` maps frame a onto frame b:
a(x) ~= b(x + flow(x)). Frame t's link to frame t-1 uses the backward flow w_b = flow(t, t-1)
to warp frame t-1's output onto frame t's grid, and the forward flow w_f = flow(t-1, t) to
check it (the paper's section 3.2).
"""

from __future__ import annotations

import numpy as np

from nst.video.deps import require

# Ruder et al.'s thresholds, in pixels: the forward-backward check ...
CONSISTENCY_RELATIVE, CONSISTENCY_ABSOLUTE = 0.01, 0.5
# ... and the motion-boundary test.
BOUNDARY_RELATIVE, BOUNDARY_ABSOLUTE = 0.01, 0.002


def gray(frame: np.ndarray) -> np.ndarray:
    """An H x W x 3 frame in [0, 1] (or uint8) as the uint8 grey image DIS takes."""
    cv2 = require("cv2")
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.rint(np.clip(frame, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenCV's DIS optical flow from frame ``a`` to frame ``b`` (H x W x 3), H x W x 2."""
    cv2 = require("cv2")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray(a), gray(b), None)


def sample_points(flow_field: np.ndarray) -> np.ndarray:
    """x + flow(x) for every pixel x: H x W x 2 (x, y) float32 coordinates."""
    height, width = flow_field.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(width), np.arange(height)), axis=-1)
    return (grid + flow_field).astype(np.float32)


def warp(image: np.ndarray, flow_field: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow(x) (bilinear; the border repeats outside the image)."""
    cv2 = require("cv2")
    points = sample_points(flow_field)
    return cv2.remap(
        np.ascontiguousarray(image, np.float32),
        points[..., 0],
        points[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def confidence(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """H x W weights of the temporal term on frame t: 0 where the backward flow
    w_b = flow(t, t-1) leaves the frame, fails the forward-backward check
    |w~ + w_b|^2 > 0.01 (|w~|^2 + |w_b|^2) + 0.5 with w~(x) = w_f(x + w_b(x)) (a disocclusion),
    or crosses a motion boundary |grad u_b|^2 + |grad v_b|^2 > 0.01 |w_b|^2 + 0.002; 1 elsewhere."""
    height, width = backward.shape[:2]
    forward_there = warp(forward, backward)
    squared = np.sum(backward**2, axis=-1)
    disoccluded = np.sum((forward_there + backward) ** 2, axis=-1) > (
        CONSISTENCY_RELATIVE * (np.sum(forward_there**2, axis=-1) + squared) + CONSISTENCY_ABSOLUTE
    )
    gradient = sum(np.square(g) for axis in (0, 1) for g in np.gradient(backward[..., axis]))
    boundary = gradient > BOUNDARY_RELATIVE * squared + BOUNDARY_ABSOLUTE
    points = sample_points(backward)
    # Outside the frame by more than half a pixel (a still border's flow jitters around 0).
    x, y = points[..., 0], points[..., 1]
    outside = (x < -0.5) | (x > width - 0.5) | (y < -0.5) | (y > height - 0.5)
    return (~(disoccluded | boundary | outside)).astype(np.float32)


def link(previous_frame: np.ndarray, frame: np.ndarray, previous_output: np.ndarray):
    """(frame t-1's output warped onto frame t, its confidence) from the content frames."""
    backward = flow(frame, previous_frame)
    forward = flow(previous_frame, frame)
    return np.clip(warp(previous_output, backward), 0, 1), confidence(backward, forward)
