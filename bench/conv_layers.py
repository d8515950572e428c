"""`python -m bench.conv_layers`: one 3x3 convolution per VGG block, timed alone.

A step of style transfer is mostly convolutions (forward and input gradient), so this is
where backend and precision differences come from: PyTorch's oneDNN in fp32 and in bf16
against XLA:CPU's convolutions in fp32, at the shapes VGG19 has for a given input size.
Prints one line per layer and the sums; CPU only (GPU kernels are timed by `python -m bench`).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from nst.options.kinds import whole_numbers

# (input channels, output channels, halvings of the input) of the first 3x3 conv in each
# VGG block after the first layer: conv1_2, conv2_2, conv3_2, conv4_2, conv5_2.
BLOCKS = ((64, 64, 0), (128, 128, 1), (256, 256, 2), (512, 512, 3), (512, 512, 4))
# Halved 4 times, the short side (3/4 of the size) of 22 px is still 1 px.
SMALLEST_SIZE = 22


def median_ms(run, repeats: int) -> float:
    run()  # warm-up: oneDNN primitive creation, XLA compilation
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3


def timers(cin: int, cout: int, height: int, width: int) -> dict:
    import jax
    import torch
    from jax import lax

    rng = np.random.default_rng(0)
    x = rng.random((1, cin, height, width), dtype=np.float32)
    w = rng.random((cout, cin, 3, 3), dtype=np.float32)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    bx, bw = tx.bfloat16(), tw.bfloat16()
    jx, jw = jax.numpy.asarray(x.transpose(0, 2, 3, 1)), jax.numpy.asarray(w.transpose(2, 3, 1, 0))
    conv = jax.jit(
        lambda a, b: lax.conv_general_dilated(
            a, b, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )
    return {
        "torch fp32": lambda: torch.nn.functional.conv2d(tx, tw, padding=1),
        "torch bf16": lambda: torch.nn.functional.conv2d(bx, bw, padding=1),
        "jax fp32": lambda: conv(jx, jw).block_until_ready(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.conv_layers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes", type=whole_numbers, default=(128, 256), help="input longest sides, 4:3 (default: 128,256)"
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per layer (default: 20)")
    args = parser.parse_args(argv)
    if min(args.sizes, default=0) < SMALLEST_SIZE or args.repeats < 1:
        parser.error(f"--sizes must be at least {SMALLEST_SIZE} px and --repeats at least 1")
    for size in args.sizes:
        height, width = size * 3 // 4, size
        totals: dict[str, float] = {}
        print(f"input {width}x{height} (median ms of {args.repeats} calls)")
        for cin, cout, halvings in BLOCKS:
            h, w = height >> halvings, width >> halvings
            times = {name: median_ms(run, args.repeats) for name, run in timers(cin, cout, h, w).items()}
            for name, ms in times.items():
                totals[name] = totals.get(name, 0.0) + ms
            print(f"  {cin}->{cout} at {w}x{h}: " + ", ".join(f"{n} {ms:.2f}" for n, ms in times.items()))
        base = totals["torch fp32"]
        print("  sum: " + ", ".join(f"{n} {ms:.1f} ({ms / base:.2f}x)" for n, ms in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
