"""FLOPs of one loss-and-gradient evaluation, counted from the network's shape, and the peak
TFLOP/s of the devices they are measured on."""

from __future__ import annotations

from nst.arch import Arch


def forward_flops(arch: Arch, layers, height: int, width: int) -> int:
    """Multiply-adds x 2 of every conv up to the deepest requested layer (ReLU/pool ignored)."""
    flops, h, w = 0, height, width
    channels = dict((name, (cin, cout)) for name, cin, cout in arch.convs)
    for name in arch.cut(layers):
        if name.startswith("conv"):
            cin, cout = channels[name]
            flops += 2 * h * w * cin * cout * 9
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
    return flops


def step_flops(arch: Arch, layers, height: int, width: int) -> int:
    """One loss-and-gradient evaluation: the forward pass plus the backward pass to the input,
    which costs about the same again (gradients w.r.t. activations only; weights are frozen)."""
    return 2 * forward_flops(arch, layers, height, width)


# Dense peak TFLOP/s per precision from the vendors' datasheets (without sparsity), keyed by a
# substring of the device's name; the first key found wins, so narrower names come first.
# The H100's PCIe and NVL cards run slower than the SXM one: unknown rather than its peak.
PEAK_TFLOPS: dict[str, dict[str, float] | None] = {
    "H100 PCIe": None,
    "H100 NVL": None,
    "H100": {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0},
    "H200": {"fp32": 67.0, "tf32": 495.0, "bf16": 990.0},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
}


def peak_tflops(device_kind: str | None, precision: str) -> float | None:
    """The device's dense peak at ``precision``, or None for a device not in PEAK_TFLOPS (CPUs)."""
    for name, peaks in PEAK_TFLOPS.items():
        if device_kind and name in device_kind:
            return None if peaks is None else peaks.get(precision)
    return None


def peak_fraction(achieved_tflops: float, device_kind: str | None, precision: str) -> float | None:
    """The achieved TFLOP/s as a fraction of the device's dense peak, or None where it is unknown."""
    peak = peak_tflops(device_kind, precision)
    return None if peak is None else achieved_tflops / peak
