"""What a batch wrote, opened and compared with the library's result for the same pair: shared
by the executors' tests (tests/test_batch.py, tests/test_batch_ray.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import nst

# Workers in another process run torch with another thread count (the cores shared among the
# device workers; one per Ray actor). A parallel reduction's chunks follow the thread count, so
# a loss can differ in its last bit and round a rare pixel the other way: by 1/255 at most.
OTHER_PROCESS_ROUNDING = 1
# The share of pixels that such rounding may touch; a systematic error touches far more.
ROUNDED_SHARE = 0.01


def cli_options(settings: dict) -> list:
    """Config fields as the command line's options (tuples comma-joined)."""
    options = []
    for name, value in settings.items():
        options += [f"--{name.replace('_', '-')}", ",".join(value) if isinstance(value, tuple) else value]
    return options


def written_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def assert_same_pixels(written: np.ndarray, expected: np.ndarray, rounding: int, what: str) -> None:
    assert written.shape == expected.shape, what
    difference = np.abs(written - expected)
    assert difference.max() <= rounding, f"{what}: off by up to {difference.max()}/255"
    assert (difference > 0).mean() <= ROUNDED_SHARE, f"{what}: {(difference > 0).mean():.1%} of pixels differ"


def library_results(pairs: dict[str, tuple[Path, Path]], settings: dict) -> dict[str, np.ndarray]:
    """One ``nst.stylize`` run with ``settings`` per pair (output name -> (content, style)), as
    8-bit pixels; checked to differ from each other, so an output written for another pair fails."""
    results = {
        name: np.asarray(nst.stylize(str(content), str(style), **settings), dtype=np.int16)
        for name, (content, style) in pairs.items()
    }
    images = list(results.values())
    for index, image in enumerate(images):
        for other in images[index + 1 :]:
            assert image.shape != other.shape or np.abs(image - other).mean() > 2
    return results


def assert_outputs_are(out: Path, expected: dict[str, np.ndarray], rounding: int = 0) -> None:
    """``out`` holds exactly the images ``expected`` names, each with its pixels within
    ``rounding``/255."""
    assert sorted(path.name for path in out.glob("*.png")) == sorted(expected), out
    for name, pixels in expected.items():
        assert_same_pixels(written_pixels(out / name), pixels, rounding, str(out / name))
