"""Shared fixtures: the paper's images (skip when absent), the tiny random VGG, fp32 everywhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nst.backend import REGISTRY

IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "images"


def installed_backends() -> list[str]:
    return [name for name in REGISTRY if importlib.util.find_spec(name) is not None]


def pytest_configure(config):
    # Parity is defined in true fp32: no TF32 on GPUs that have it.
    if importlib.util.find_spec("torch"):
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


@pytest.fixture(params=installed_backends())
def backend_name(request) -> str:
    return request.param


@pytest.fixture
def images_dir() -> Path:
    if not IMAGES.is_dir():
        pytest.skip(f"the paper's images are not at {IMAGES}")
    return IMAGES


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Weights convert into a per-session cache, never the user's."""
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nst-cache"))
