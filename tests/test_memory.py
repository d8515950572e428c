"""The CPU memory estimate that refuses a run the machine cannot hold (nst.memory)."""

from __future__ import annotations

import sys

import pytest

from nst import memory
from nst.arch import VGG16, VGG19

MODEL = memory.HostMemoryModel(bytes_per_pixel=2.5 * 1024)


def test_the_estimate_grows_with_pixels_and_lbfgs_history():
    layers = memory.MEASURED_LAYERS
    adam = memory.estimated_peak_bytes(MODEL, 1_000_000, "adam", 50, layers=layers)
    lbfgs = memory.estimated_peak_bytes(MODEL, 1_000_000, "lbfgs", 50, layers=layers)
    assert adam == memory.FIXED_BYTES + 1_000_000 * MODEL.bytes_per_pixel
    assert lbfgs - adam == pytest.approx(1_000_000 * 50 * 24)  # 50 pairs of two 3-channel float32 images
    heavier = memory.HostMemoryModel(bytes_per_pixel=4.5 * 1024)
    assert memory.estimated_peak_bytes(heavier, 1_000_000, "adam", 50, layers=layers) > adam


def test_the_estimate_follows_the_network_and_its_cut():
    default = memory.estimated_peak_bytes(MODEL, 1_000_000, "adam", 50)
    shallow = memory.estimated_peak_bytes(MODEL, 1_000_000, "adam", 50, VGG16, ("relu1_1", "relu2_1"))
    deeper = memory.estimated_peak_bytes(MODEL, 1_000_000, "adam", 50, VGG19, ("relu5_1",))
    assert shallow < default < deeper
    # Up to relu2_1: conv1_1, relu1_1, conv1_2, relu1_2 (64 each), pool1 (64 / 4), conv2_1, relu2_1 (128 / 4).
    assert memory.activations_per_pixel(VGG16, ("relu2_1",)) == 4 * 64 + 16 + 2 * 32


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_the_machine_memory_is_read():
    with open("/proc/meminfo") as meminfo:
        total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    assert memory.machine_memory_bytes() >= total_kib * 1024
