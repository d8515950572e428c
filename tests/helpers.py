"""Small builders shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from nst.arch import TINY, TORCHVISION, random_params
from nst.options.config import make_config

# The tiny VGG's first two blocks: a loss that compiles and runs in a blink.
SHALLOW = {"style_layers": ("relu1_1", "relu2_1"), "content_layers": ("relu2_1",)}


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """Gradients, waves and a little noise in [0, 1]: activations like a photo's, not only
    like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    phase = rng.uniform(0, 6, 3)
    base = 0.5 + 0.4 * np.sin(np.stack([x * 9 + phase[0], y * 7 + phase[1], (x + y) * 4 + phase[2]], -1))
    return np.clip(base + 0.05 * rng.standard_normal((height, width, 3)), 0, 1).astype(np.float32)


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


def tiny_problem(backend, images, **options):
    """(cfg, spec, net, targets) for ``images`` ({"content", "style"}) on ``backend`` with the
    tiny random VGG and the SHALLOW layers, at 32 px; ``options`` go to make_config."""
    cfg = make_config("mse", size=32, **SHALLOW, **options)
    spec = cfg.loss_spec(1)
    net = backend.load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, cfg.pooling, "cpu")
    targets = backend.prepare_targets(net, images["content"], [images["style"]], spec)
    return cfg, spec, net, targets
