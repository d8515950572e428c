"""What the numbers were measured on: machine, library versions, precision and thread settings."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from nst import hardware


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cpu_flags() -> list[str]:
    """The AVX-512 and AMX flags: which vector and bf16 units the CPU cells could use."""
    return sorted(f for f in hardware.cpu_flags() or () if f.startswith(("avx512", "amx")))


def describe_environment(device: str) -> dict:
    env = {
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_bf16_flags": _cpu_flags(),
        "cpu_bf16": {True: "native", False: "emulated", None: "unknown"}[hardware.cpu_has_bf16()],
        "versions": {p: _version(p) for p in ("nst", "numpy", "torch", "jax", "jaxlib", "flax", "optax")},
        "env": {
            k: os.environ[k] for k in ("OMP_NUM_THREADS", "XLA_FLAGS", "OPENBLAS_CORETYPE") if k in os.environ
        },
    }
    if _version("torch"):
        import torch

        env["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
            env["cuda"] = torch.version.cuda
            env["cudnn"] = torch.backends.cudnn.version()
    return env
