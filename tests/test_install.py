"""`nst`, `nst.backends.*` and `nst.weights` resolve from outside the repository, installed
both editable (how CI installs) and as a regular wheel-style install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import nst, nst.backends.torch, nst.weights, nst.backend as b; "
    "print(nst.__file__); print(nst.backends.torch.__file__); print(nst.weights.__file__); "
    "print(b.get_backend('torch').name)"
)


def probe(cwd: Path, extra_path: str | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra_path:
        env["PYTHONPATH"] = extra_path
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_editable_install_resolves_from_another_directory(tmp_path):
    nst_file, torch_file, weights_file, name = probe(tmp_path)
    assert Path(nst_file).is_relative_to(REPO / "nst")
    assert Path(torch_file).is_relative_to(REPO / "backends" / "torch")
    assert Path(weights_file).is_relative_to(REPO / "weights")
    assert name == "torch"


def test_regular_install_resolves_from_another_directory(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    nst_file, torch_file, weights_file, name = probe(tmp_path, str(site))
    for path in (nst_file, torch_file, weights_file):
        assert Path(path).is_relative_to(site), path
    assert Path(torch_file).parent == site / "nst" / "backends" / "torch"
    assert name == "torch"


def test_core_imports_without_any_framework(tmp_path):
    """The core must not import torch or jax at module level."""
    code = (
        "import sys, nst, nst.cli, nst.commands, nst.stylize, nst.image, nst.weights; "
        "bad = [m for m in ('torch', 'jax', 'flax', 'av', 'cv2') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
