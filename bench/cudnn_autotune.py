"""`python -m bench.cudnn_autotune`: what cuDNN's autotuner costs in GPU memory and buys in speed.

nst's PyTorch backend turns on cuDNN's autotuner (``RunSettings.autotune``): the first step at an image
shape tries every convolution algorithm with its workspace and keeps the fastest. This runs
the same L-BFGS run twice, each in a fresh process (the setting and the tuned algorithms are
process-wide), with the autotuner on and off, and prints for each the peak GPU memory, the
memory still reserved after the run, and the step time after the first chunk. CUDA only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace

FIRST_CHUNK = 10  # steps timed apart: the first ones at a new shape pay for autotuning


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.cudnn_autotune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=512, help="longest side (default: 512)")
    parser.add_argument(
        "--steps",
        type=int,
        default=60,
        help=f"L-BFGS steps, timed after the first {FIRST_CHUNK} (default: 60)",
    )
    parser.add_argument("--precision", default="tf32", help="fp32, tf32 or bf16 (default: tf32)")
    parser.add_argument(
        "--weights",
        default="vgg16-offline",
        help="vgg16-offline, or vgg16-random / vgg19-random (default: vgg16-offline)",
    )
    parser.add_argument("--autotune", choices=("on", "off"), help=argparse.SUPPRESS)  # one child run
    return parser.parse_args(argv)


def measure(args) -> str:
    import torch

    from bench.cell import load_images, load_network_params
    from nst.backend import get_backend
    from nst.options.config import make_config

    cfg = make_config(size=args.size, precision=args.precision, device="cuda", normalization="mse")
    spec = cfg.loss_spec(1)
    content, style = load_images(args.size)
    params, arch, preprocess = load_network_params(args.weights)
    backend = get_backend("torch")
    net = backend.load_network(params, arch, preprocess, spec.layers, cfg.pooling, "cuda")
    settings = replace(cfg.run_settings(), autotune=args.autotune == "on")
    run = backend.start(net, backend.prepare_targets(net, content, [style], spec), content, spec, settings)
    torch.cuda.synchronize()
    # advance returns the losses as floats, so each call ends with the GPU's work done.
    started = time.perf_counter()
    run.advance(FIRST_CHUNK)
    first_done = time.perf_counter()
    run.advance(args.steps - FIRST_CHUNK)
    first, rest = first_done - started, time.perf_counter() - first_done
    gib = 2**30
    return (
        f"autotune {args.autotune}: peak {torch.cuda.max_memory_allocated() / gib:.2f} GiB allocated, "
        f"{torch.cuda.max_memory_reserved() / gib:.2f} GiB reserved; "
        f"{torch.cuda.memory_reserved() / gib:.2f} GiB "
        f"reserved after the run; first {FIRST_CHUNK} steps {first:.2f} s, then "
        f"{1e3 * rest / (args.steps - FIRST_CHUNK):.1f} ms/step"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.steps <= FIRST_CHUNK:
        print(f"python -m bench.cudnn_autotune: --steps must be more than {FIRST_CHUNK}", file=sys.stderr)
        return 2
    import torch

    if not torch.cuda.is_available():
        print("python -m bench.cudnn_autotune: needs a CUDA GPU, and torch sees none here", file=sys.stderr)
        return 2
    if args.autotune:
        print(measure(args), flush=True)
        return 0
    forwarded = [
        f"--size={args.size}",
        f"--steps={args.steps}",
        f"--precision={args.precision}",
        f"--weights={args.weights}",
    ]
    for setting in ("on", "off"):
        done = subprocess.run(
            [sys.executable, "-m", "bench.cudnn_autotune", *forwarded, f"--autotune={setting}"]
        )
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
