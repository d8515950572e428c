"""The images of ``nst demo``, from the package and its dependencies alone (no download).

Content: scikit-image's astronaut photo (Eileen Collins, NASA, public domain).
Style: a painting that nst generates itself: thick, curved brush strokes of a small vivid
palette that follow swirling flow lines, in the manner of Van Gogh's skies. Style transfer
copies Gram statistics of VGG features, so what matters is texture at the scale of VGG's
receptive fields: strokes 3 to 20 px wide, strong edges, strong orientation, bristle streaks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from nst.errors import NstError
from nst.image import load_image

# A limited vivid palette (RGB 0..255): night-sky blues, chrome yellows, warm reds, greens.
PALETTE = np.array(
    [
        (18, 32, 92),  # ultramarine, deep
        (34, 78, 170),  # cobalt
        (78, 146, 214),  # cerulean
        (168, 208, 228),  # pale sky
        (248, 206, 48),  # chrome yellow
        (238, 142, 34),  # orange
        (206, 54, 38),  # vermilion
        (34, 120, 84),  # viridian
        (132, 184, 62),  # leaf green
        (246, 240, 222),  # lead white
        (24, 26, 38),  # ivory black
    ],
    dtype=np.float64,
)

# Passes of strokes from broad to fine: (width in px, strokes per 512x512 image, length in steps).
# Widths span 3..20 px: the scales VGG's relu1_1..relu4_1 receptive fields see.
STROKE_PASSES = ((20, 700, 10), (13, 1000, 9), (8, 1500, 7), (5, 1700, 6), (3, 1400, 5))
STEP_PX = 4.0  # distance between the points of a stroke's polyline
SUPERSAMPLE = 2  # strokes are drawn at 2x and downsampled: smooth edges, no staircase


def demo_content() -> np.ndarray:
    """scikit-image's astronaut photo (512 x 512, public domain) as an nst image."""
    try:
        from skimage import data
    except ImportError:
        raise NstError(
            "the demo's content image comes with scikit-image, which is not "
            "installed; pip install 'nst[demo]'"
        ) from None
    return load_image(data.astronaut())


def demo_style(height: int = 512, width: int = 512, seed: int = 0) -> np.ndarray:
    """A generated painting of swirling brush strokes, H x W x 3 in [0, 1]; same seed, same image."""
    if min(height, width) < 2:
        raise NstError(f"the demo style image needs at least 2 px per side, got {width}x{height}")
    rng = np.random.default_rng(seed)
    angle = _flow_angle(height, width, rng)
    region = _smooth_field(height, width, rng, waves=4, max_cycles=2.0)
    canvas = Image.fromarray(_underpainting(region)).resize(
        (width * SUPERSAMPLE, height * SUPERSAMPLE), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(canvas)
    area_ratio = height * width / (512 * 512)
    for stroke_width, count, steps in STROKE_PASSES:
        starts = rng.random((max(1, round(count * area_ratio)), 2)) * (width, height)
        for points, color in zip(_trace(starts, angle, steps, rng), _stroke_colors(starts, region, rng)):
            _paint_stroke(draw, points * SUPERSAMPLE, color, stroke_width * SUPERSAMPLE)
    canvas = canvas.resize((width, height), Image.Resampling.LANCZOS)
    image = np.asarray(canvas, dtype=np.float32) / 255.0
    texture = _bristle_texture(angle, rng).astype(np.float32)
    return np.clip(image * texture[..., None], 0.0, 1.0)


def _smooth_field(height, width, rng, waves, max_cycles) -> np.ndarray:
    """A sum of random plane sinusoids with at most ``max_cycles`` periods across the image."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    field = np.zeros((height, width))
    for _ in range(waves):
        direction = rng.uniform(0, 2 * np.pi)
        cycles = rng.uniform(0.5, max_cycles)
        phase = rng.uniform(0, 2 * np.pi)
        field += np.sin(2 * np.pi * cycles * (x * np.cos(direction) + y * np.sin(direction)) + phase)
    return field / waves


def _flow_angle(height, width, rng) -> np.ndarray:
    """Stroke direction: along the level lines of a stream function with a few vortices."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    stream = _smooth_field(height, width, rng, waves=5, max_cycles=2.5)
    for _ in range(4):  # round swirls around Gaussian bumps, like Van Gogh's stars
        cy, cx = rng.uniform(0.1, 0.9, size=2) * (height, width) / max(height, width)
        radius = rng.uniform(0.06, 0.16)
        stream += rng.choice((-1.5, 1.5)) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
    d_dy, d_dx = np.gradient(stream)
    return np.arctan2(-d_dx, d_dy)  # velocity (d/dy, -d/dx) is tangent to the level lines


def _underpainting(region) -> np.ndarray:
    """A coarse colour layer so no bare canvas shows between strokes."""
    index = _palette_index(region)
    return PALETTE[index].astype(np.uint8)


def _palette_index(region) -> np.ndarray:
    # The smooth region field picks neighbouring palette entries, so areas have a dominant hue.
    unit = (np.clip(region, -1, 1) + 1) / 2
    return np.minimum((unit * len(PALETTE)).astype(int), len(PALETTE) - 1)


def _trace(starts, angle, steps, rng) -> np.ndarray:
    """Polylines (n, steps + 1, 2) following the flow field from ``starts``, in x, y."""
    height, width = angle.shape
    points = [starts]
    position = starts.copy()
    reverse = np.where(rng.random(len(starts)) < 0.5, -1.0, 1.0)  # strokes run both ways
    for _ in range(steps):
        row = np.clip(position[:, 1].astype(int), 0, height - 1)
        col = np.clip(position[:, 0].astype(int), 0, width - 1)
        theta = angle[row, col]
        position = position + reverse[:, None] * STEP_PX * np.stack([np.cos(theta), np.sin(theta)], 1)
        points.append(position)
    return np.stack(points, axis=1)


def _stroke_colors(starts, region, rng) -> np.ndarray:
    """Mostly the local hue (or a neighbour on the palette), sometimes a bold contrast."""
    height, width = region.shape
    rows = np.clip(starts[:, 1].astype(int), 0, height - 1)
    cols = np.clip(starts[:, 0].astype(int), 0, width - 1)
    index = _palette_index(region[rows, cols]) + rng.integers(-1, 2, size=len(starts))
    contrast = rng.random(len(starts)) < 0.2
    index = np.where(contrast, rng.integers(0, len(PALETTE), size=len(starts)), index)
    colors = PALETTE[np.clip(index, 0, len(PALETTE) - 1)]
    colors *= rng.uniform(0.85, 1.15, size=(len(starts), 1))  # paint is never mixed evenly
    return np.clip(colors, 0, 255).astype(np.uint8)


def _paint_stroke(draw, points, color, width) -> None:
    """A thick curved line with round ends; a thinner, lighter line on top for the paint's sheen."""
    fill = tuple(int(c) for c in color)
    sheen = tuple(int(min(255, c * 1.25 + 20)) for c in color)
    polyline = [tuple(p) for p in points]
    draw.line(polyline, fill=fill, width=width, joint="curve")
    for x, y in (polyline[0], polyline[-1]):
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=fill)
    if width >= 5:
        draw.line(polyline[1:-1], fill=sheen, width=max(1, width // 4), joint="curve")


def _bristle_texture(angle, rng, length=8) -> np.ndarray:
    """Streaks along the strokes: white noise averaged along the flow (line integral convolution)."""
    height, width = angle.shape
    noise = rng.random((height, width))
    rows, cols = np.mgrid[0:height, 0:width]
    dy, dx = np.sin(angle), np.cos(angle)
    total = np.zeros((height, width))
    for t in range(-length, length + 1):
        r = np.clip(np.rint(rows + t * dy).astype(int), 0, height - 1)
        c = np.clip(np.rint(cols + t * dx).astype(int), 0, width - 1)
        total += noise[r, c]
    streaks = total / (2 * length + 1)
    streaks = (streaks - streaks.mean()) / streaks.std()
    return 1.0 + 0.12 * streaks  # +-12% brightness per std: visible streaks, colours kept
