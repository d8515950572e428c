"""Shared fixtures: the paper's images (skip when absent, fail on CI), the tiny random VGG, fp32
everywhere."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from nst.backend import REGISTRY

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IMAGES = SHARED / "images"
# Set by .ci/run: CI has ../shared, so a test that needs it fails there instead of skipping.
REQUIRE_SHARED = "NST_REQUIRE_SHARED"


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


def shared_path(path: Path, what: str) -> Path:
    """``path`` inside ../shared when it exists. Missing, the test skips in a plain checkout and
    fails where ``NST_REQUIRE_SHARED=1`` (CI)."""
    if path.exists():
        return path
    message = f"{what} are not at {path}"
    if os.environ.get(REQUIRE_SHARED) == "1":
        pytest.fail(f"{message}, and {REQUIRE_SHARED}=1 says this machine has them", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def images_dir() -> Path:
    return shared_path(IMAGES, "the paper's images")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Weights convert into a per-session cache, never the user's."""
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "nst-cache"))
