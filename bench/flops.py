"""FLOPs of one optimisation step, counted from the network's shape."""

from __future__ import annotations

from nst.network import Arch


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
