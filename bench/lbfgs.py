"""`python -m bench.lbfgs`: the PyTorch backend's L-BFGS against torch.optim.LBFGS, in one process.

Both minimise the same objective (the default loss at ``--size``, random VGG19 weights by
default) from the same start with the same settings (strong-Wolfe line search, history 50,
lr 1); torch.optim.LBFGS runs all the steps in one ``step`` call. Both evaluate eagerly; on
CUDA nst's also runs with its evaluations and directions replayed from CUDA graphs (its
default there). Per implementation and repeat: milliseconds per step, evaluations, and the
final loss (all must agree to float rounding). They alternate, ``--repeats`` times, so that a
change of load hits each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path

from bench.environment import describe_environment


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.lbfgs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--sizes", default="128,256", help="comma list of longest sides (default: 128,256)")
    parser.add_argument("--steps", type=int, default=30, help="L-BFGS steps per run (default: 30)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each implementation (default: 2)")
    parser.add_argument("--precision", default="fp32", help="fp32, tf32 or bf16 (default: fp32)")
    parser.add_argument("--weights", default="vgg19-random", help="as python -m bench --networks")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--name", help="file stem (default: lbfgs-<device>-<date>)")
    return parser.parse_args(argv)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(args, size: int) -> list[dict]:
    import torch

    from bench.cell import load_images, load_network_params
    from nst.backend import get_backend
    from nst.backends.torch.optim import run_flags
    from nst.options.config import make_config

    cfg = make_config(size=size, precision=args.precision, device=args.device, normalization="mse")
    spec = cfg.loss_spec(1)
    content, style = load_images(size)
    params, arch, preprocess = load_network_params(args.weights)
    backend = get_backend("torch")
    net = backend.load_network(params, arch, preprocess, spec.layers, cfg.pooling, args.device)
    targets = backend.prepare_targets(net, content, [style], spec)
    settings = cfg.run_settings()

    def device_lbfgs(cuda_graphs: bool) -> tuple[float, int, float]:
        run = backend.start(net, targets, content, spec, replace(settings, cuda_graphs=cuda_graphs))
        synchronize(args.device)
        started = time.perf_counter()
        loss = run.advance(args.steps)["total"]
        return time.perf_counter() - started, run.evaluations, loss

    def torch_lbfgs() -> tuple[float, int, float]:
        run = backend.start(net, targets, content, spec, replace(settings, cuda_graphs=False))
        pixels = run.pixels.detach().clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            [pixels],
            lr=settings.step_size,
            max_iter=args.steps,
            max_eval=args.steps * 25,
            history_size=settings.lbfgs_history,
            line_search_fn="strong_wolfe",
            tolerance_grad=-1,
        )
        evaluations = 0

        def closure():
            nonlocal evaluations
            evaluations += 1
            terms, pixels.grad = run.terms_and_gradient(pixels)
            return terms["total"]

        synchronize(args.device)
        started = time.perf_counter()
        with run_flags(settings):  # the TF32 and autotune switches that ``advance`` sets
            optimizer.step(closure)
        seconds = time.perf_counter() - started
        return seconds, evaluations, float(run.terms_and_gradient(pixels)[0]["total"])

    implementations = {"torch.optim.LBFGS": torch_lbfgs, "nst DeviceLBFGS": partial(device_lbfgs, False)}
    if args.device.startswith("cuda"):
        implementations["nst DeviceLBFGS, CUDA graphs"] = partial(device_lbfgs, True)
    rows = []
    for repeat in range(args.repeats):
        for name, run in implementations.items():
            seconds, evaluations, loss = run()
            rows.append(
                {
                    "size": size,
                    "implementation": name,
                    "repeat": repeat,
                    "ms_per_step": 1e3 * seconds / args.steps,
                    "evaluations": evaluations,
                    "final_loss": loss,
                }
            )
            print(
                f"{size} px {name}: {rows[-1]['ms_per_step']:.1f} ms/step, {evaluations} evaluations, "
                f"final loss {loss:.6g}",
                flush=True,
            )
    return rows


def write_markdown(report: dict, path: Path) -> None:
    lines = [
        f"# L-BFGS: nst's against torch.optim.LBFGS, {report['settings']['device']} ({report['date']})",
        "",
        f"Command: `{report['command']}`",
        "",
        "| size | implementation | repeat | ms/step | evaluations | final loss |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['size']} | {row['implementation']} | {row['repeat'] + 1} | {row['ms_per_step']:.1f} | "
            f"{row['evaluations']} | {row['final_loss']:.6g} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    report = {
        "command": "python -m bench.lbfgs " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": date.today().isoformat(),
        "settings": {
            key: getattr(args, key) for key in ("device", "sizes", "steps", "repeats", "precision", "weights")
        },
        "rows": [row for size in args.sizes.split(",") if size for row in measure(args, int(size))],
    }
    report["environment"] = describe_environment(args.device)
    stem = args.name or f"lbfgs-{args.device.split(':')[0]}-{report['date']}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    write_markdown(report, args.out / f"{stem}.md")
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
