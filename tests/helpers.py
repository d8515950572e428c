"""Small builders shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from nst.network import TINY, random_params


def tiny_weights_file(directory: Path) -> Path:
    """The tiny random VGG as a canonical .safetensors file, for `--weights PATH`."""
    path = directory / "tiny.safetensors"
    if not path.exists():
        save_file(random_params(TINY, seed=0), str(path))
    return path


def write_image(path: Path, height: int = 40, width: int = 56, seed: int = 0) -> Path:
    """A smooth random colour image (gradients plus noise), saved with PIL."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([x, y, 1 - x * y], axis=-1) + 0.2 * rng.standard_normal((height, width, 3))
    Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def cli_files(directory: Path):
    """(folder, content image, style image, tiny weights file) for CLI tests."""
    content = write_image(directory / "content.png", 40, 56, seed=1)
    style = write_image(directory / "style.png", 48, 48, seed=2)
    return directory, content, style, tiny_weights_file(directory)
