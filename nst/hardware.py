"""What the host CPU can do, read from the operating system (no torch or jax import).

bf16 on a CPU is fast only with bf16 instructions (x86: AVX512_BF16 or AMX-BF16); without
them it is emulated in software, many times slower than fp32 for PyTorch
(docs/performance.md#bf16-on-a-cpu-without-bf16-instructions).
"""

from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
BF16_EMULATED = (
    "this CPU has no bf16 hardware (no AVX512_BF16 or AMX); bf16 is emulated and "
    "much slower; use --precision fp32"
)


def _cpuinfo_field(name: str) -> str | None:
    """The first CPU's ``name`` line of /proc/cpuinfo; None where there is none to read."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_flags() -> frozenset[str] | None:
    """The x86 feature flags of the first CPU in /proc/cpuinfo; None where there are none to
    read (not Linux, or not x86: Arm's cpuinfo has no 'flags' line)."""
    flags = _cpuinfo_field("flags")
    return None if flags is None else frozenset(flags.split())


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (x86 Linux); None where there is none."""
    return _cpuinfo_field("model name")


def cpu_has_bf16() -> bool | None:
    """Whether the CPU has bf16 instructions; None when unknown (then nothing is said)."""
    flags = cpu_flags()
    return None if flags is None else bool(flags & BF16_FLAGS)


def bf16_emulated(precision: str, device: str) -> bool:
    """Whether a run at ``precision`` on ``device`` (a backend's device name: 'cpu', 'cpu:0',
    'cuda:0', ...) does its bf16 arithmetic in software."""
    return precision == "bf16" and device.startswith("cpu") and cpu_has_bf16() is False


def describe_cpu_bf16() -> str:
    """One line for `nst info`."""
    flags = cpu_flags()
    if flags is None:
        return "CPU bf16: unknown (no x86 CPU flags to read here)"
    found = sorted(flags & BF16_FLAGS)
    if found:
        return f"CPU bf16: native ({', '.join(found)})"
    return (
        "CPU bf16: emulated (no AVX512_BF16 or AMX), much slower than fp32; use --precision fp32 on the CPU"
    )
