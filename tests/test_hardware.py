"""bf16 support read from the CPU's flags, and what `nst` says when bf16 would be emulated.

This machine's CPU may or may not have bf16 units, so every test points the reader at a fake
/proc/cpuinfo."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nst import hardware
from nst.cli import main
from tests.helpers import cli_files

# Trimmed from real /proc/cpuinfo files: an AVX2-only AMD EPYC (Zen 3), a Zen 4 with
# AVX512_BF16, a Sapphire Rapids with AMX, and an Arm server (no x86 'flags' line).
ZEN3 = "processor\t: 0\nmodel name\t: AMD EPYC 7763\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: avx2 avx512f amx_bf16 amx_tile amx_int8\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16\n"


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Write a fake /proc/cpuinfo and point nst.hardware at it."""
    path = tmp_path / "cpuinfo"
    monkeypatch.setattr(hardware, "CPUINFO", path)

    def use(text: str) -> None:
        path.write_text(text)

    return use


@pytest.mark.parametrize("text, native", [(ZEN3, False), (ZEN4, True), (SAPPHIRE_RAPIDS, True), (ARM, None)])
def test_bf16_support_is_read_from_the_cpu_flags(cpuinfo, text, native):
    cpuinfo(text)
    assert hardware.cpu_has_bf16() is native


def test_without_a_cpuinfo_file_bf16_support_is_unknown_and_nothing_is_said(monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "CPUINFO", tmp_path / "absent")
    assert hardware.cpu_flags() is None and hardware.cpu_has_bf16() is None
    assert not hardware.bf16_emulated("bf16", "cpu")
    assert "unknown" in hardware.describe_cpu_bf16()


def test_bf16_is_emulated_only_at_bf16_on_a_cpu_without_the_flags(cpuinfo):
    cpuinfo(ZEN3)
    assert hardware.bf16_emulated("bf16", "cpu") and hardware.bf16_emulated("bf16", "cpu:0")
    assert not hardware.bf16_emulated("fp32", "cpu")
    assert not hardware.bf16_emulated("bf16", "cuda:0") and not hardware.bf16_emulated("bf16", "tpu:0")
    cpuinfo(ZEN4)
    assert not hardware.bf16_emulated("bf16", "cpu")


def test_the_module_imports_no_framework():
    code = (
        "import sys, nst.hardware; bad = [m for m in ('torch', 'jax') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "text, line",
    [
        (
            ZEN3,
            "CPU bf16: emulated (no AVX512_BF16 or AMX), much slower than fp32; "
            "use --precision fp32 on the CPU",
        ),
        (SAPPHIRE_RAPIDS, "CPU bf16: native (amx_bf16)"),
    ],
)
def test_nst_info_says_whether_the_cpu_has_bf16(cpuinfo, capsys, text, line):
    cpuinfo(text)
    assert main(["info"]) == 0
    assert line in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("text, warned", [(ZEN3, True), (ZEN4, False)])
def test_a_bf16_run_on_a_cpu_without_bf16_hardware_says_so_in_one_line(
    tmp_path, cpuinfo, capsys, text, warned
):
    cpuinfo(text)
    folder, content, style, weights = cli_files(tmp_path)
    code = main(
        [
            "stylize",
            str(content),
            str(style),
            "-o",
            str(folder / "out.png"),
            "--weights",
            str(weights),
            "--size",
            "32",
            "--iterations",
            "2",
            "--precision",
            "bf16",
            "--device",
            "cpu",
            "--backend",
            "torch",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    expected = (
        "nst: this CPU has no bf16 hardware (no AVX512_BF16 or AMX); bf16 is emulated and much "
        "slower; use --precision fp32"
    )
    assert err.splitlines().count(expected) == (1 if warned else 0), err
