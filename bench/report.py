"""Comparisons between cells, and the Markdown table and PNG plot of a run."""

from __future__ import annotations

from pathlib import Path

from nst.hardware import BF16_EMULATED

# The target loss is the one the fp32 PyTorch cell reaches after this fraction of its steps,
# so every cell is timed to the same quality.
TARGET_FRACTION = 0.5


def _key(cell):
    return cell["network"], cell["size"], cell["optimizer"]


def add_comparisons(cells: list[dict]) -> None:
    """Speed-up over the baseline loop and time to the fp32 PyTorch cell's target loss."""
    measured = [c for c in cells if c["status"] == "ok"]
    baseline = {_key(c): c for c in measured if c["backend"] == "baseline"}
    reference = {_key(c): c for c in measured if c["backend"] == "torch" and c["precision"] == "fp32"}
    for cell in measured:
        base = baseline.get(_key(cell))
        cell["speedup_vs_baseline"] = (
            base["step_seconds_median"] / cell["step_seconds_median"] if base else None
        )
        ref = reference.get(_key(cell))
        cell["target_loss"] = cell["seconds_to_target"] = None
        if ref and ref["curve"]:
            target_step = ref["steps"] * TARGET_FRACTION
            target = next(loss for step, _, loss in ref["curve"] if step >= target_step)
            cell["target_loss"] = target
            cell["seconds_to_target"] = next(
                (
                    cell["first_step_seconds"] + seconds
                    for _, seconds, loss in cell["curve"]
                    if loss <= target
                ),
                None,
            )


def _fmt(value, pattern):
    return "-" if value is None else pattern.format(value)


def _precision(cell) -> str:
    return f"{cell['precision']} (emulated)" if cell.get("bf16_emulated") else cell["precision"]


def _label(cell) -> str:
    return f"{cell['backend']} {cell['optimizer']} {_precision(cell)}"


def _not_measured(cell) -> str:
    """Why a cell has no numbers: its status and reason or last error line."""
    if cell["status"] == "unavailable":
        return f"unavailable: {cell['reason']}"
    return f"FAILED: {cell['error'][-1]}"


def _inputs(cells: list[dict]) -> list[str]:
    """One line each for the images and weights the cells used (usually one set of each)."""
    if not cells:
        return []
    images = {(c["images"]["content"], c["images"]["style"]) for c in cells}
    weights = {(c["weights"]["name"], c["weights"]["description"]) for c in cells}
    return [
        "Images: "
        + "; ".join(f"content {content}, style {style}" for content, style in sorted(images))
        + " (content at the cell's size, style resized to the content's shape).",
        "Weights: " + "; ".join(f"{name} ({description})" for name, description in sorted(weights)) + ".",
    ]


def write_markdown(report: dict, path: Path) -> None:
    env = report["environment"]
    cells = report["cells"]
    lines = [
        f"# nst benchmark: {env.get('gpu') or env['cpu']} ({env['device']})",
        "",
        f"torch {env['versions'].get('torch')}, jax {env['versions'].get('jax')}, "
        f"{env['cpu_count']} CPU threads; {'quick' if report['quick'] else 'full'} matrix, "
        f"{report['wall_seconds']:.0f} s. Step times are medians over chunks after the "
        f"first step (IQR after ±); L-BFGS steps include their line-search evaluations "
        f"(evals/step, over the timed steps; the baseline does not count them). TFLOP/s counts "
        f"one forward and one input-gradient pass per evaluation, times evals/step (one per step "
        f"where unknown); % of peak is against the device's dense datasheet peak at the cell's "
        f"precision (- where bench.flops does not know it, as on CPUs). compile s: the step's "
        f"compilation (JAX), part of setup s; 0 where nothing compiles.",
        "",
        *([report["notes"], ""] if report.get("notes") else []),
        *_inputs(cells),
        *([""] if cells else []),
        "| backend | network | size | optimizer | precision | setup s | compile s | first step s | "
        "step ms | evals/step | TFLOP/s | % of peak | x baseline | s to target | peak MB | final loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        head = f"| {c['backend']} | {c['network']} | {c['size']} | {c['optimizer']} | {_precision(c)} |"
        if c["status"] != "ok":
            lines.append(f"{head} {_not_measured(c).replace('|', '/')} |" + " |" * 10)
            continue
        lines.append(
            f"{head} {c['setup_seconds']:.2f} | {_fmt(c.get('compile_seconds'), '{:.2f}')} | "
            f"{c['first_step_seconds']:.2f} | "
            f"{c['step_seconds_median'] * 1e3:.1f} ± {c['step_seconds_iqr'] * 1e3:.1f} | "
            f"{_fmt(c.get('evaluations_per_step'), '{:.2f}')} | {c['achieved_tflops']:.2f} | "
            f"{_fmt(c.get('peak_fraction'), '{:.1%}')} | "
            f"{_fmt(c['speedup_vs_baseline'], '{:.2f}')} | "
            f"{_fmt(c['seconds_to_target'], '{:.2f}')} | {c['peak_memory_bytes'] / 2**20:.0f} | "
            f"{c['final_losses']['total']:.4g} |"
        )
    if any(c.get("bf16_emulated") for c in cells):
        lines += ["", f"bf16 (emulated): {BF16_EMULATED}."]
    failed = [c for c in cells if c["status"] == "failed"]
    if failed:
        lines += ["", "## Failed cells"]
    for c in failed:
        lines += ["", f"{_label(c)}, {c['network']} at {c['size']} px:", "```", *c["error"], "```"]
    path.write_text("\n".join(lines) + "\n")


def write_plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cells = [c for c in report["cells"] if c["status"] == "ok"]
    not_measured = [
        f"{_label(c)} {c['size']} px: {_not_measured(c)}" for c in report["cells"] if c["status"] != "ok"
    ]
    listing = 0.15 * len(not_measured)  # inches under the axes, one line per cell without numbers
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5 + listing))
    series = {}
    for c in cells:
        series.setdefault(_label(c), []).append((c["size"], c["step_seconds_median"] * 1e3))
    for label, points in sorted(series.items()):
        points.sort()
        left.plot(*zip(*points), marker="o", label=label)
    left.set(
        xlabel="image size (longest side, px)",
        ylabel="ms per step",
        yscale="log",
        title="steady-state step time",
    )
    if series:
        left.legend(fontsize=7)
    largest = max((c["size"] for c in cells), default=0)
    for c in cells:
        if c["size"] == largest and c["curve"]:
            _, seconds, losses = zip(*c["curve"])
            right.plot([s + c["first_step_seconds"] for s in seconds], losses, label=_label(c))
    right.set(
        xlabel="wall time (s, incl. first step)",
        ylabel="total loss",
        yscale="log",
        title=f"loss vs wall time at {largest} px",
    )
    if right.lines:
        right.legend(fontsize=7)
    fig.suptitle(report["environment"].get("gpu") or report["environment"]["cpu"])
    # Cells without numbers are listed under the axes, so that the plot alone does not hide them.
    fig.text(
        0.01, 0.01, "\n".join(line[:150] for line in not_measured), fontsize=7, va="bottom", color="firebrick"
    )
    fig.tight_layout(rect=(0, listing / (4.5 + listing), 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
