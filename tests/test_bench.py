"""`python -m bench --quick` runs end to end and writes its three files (it checks the harness
works, not a speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cell as bench_cell
from bench import multiscale, step_cost
from bench.environment import describe_environment
from bench.flops import forward_flops, step_flops
from bench.report import add_comparisons, write_markdown
from nst.arch import VGG16
from tests.helpers import tiny_weights_file

REPO = Path(__file__).resolve().parents[1]


def test_flop_count_matches_the_design_order_of_magnitude():
    # design.md: about 62 GFLOP per step for VGG16 up to conv5_1 at 256x192.
    flops = step_flops(VGG16, ["relu5_1"], 192, 256)
    assert 55e9 < flops < 70e9
    assert forward_flops(VGG16, ["relu1_1"], 10, 10) == 2 * 100 * 3 * 64 * 9


def test_quick_bench_writes_json_markdown_and_plot(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--out",
            str(tmp_path),
            "--name",
            "ci",
            "--notes",
            "Run by the test suite.",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "ci.json").read_text())
    failed = [c for c in report["cells"] if c["status"] == "failed"]
    assert not failed, "\n".join(line for c in failed for line in c["error"])
    measured = [c for c in report["cells"] if c["status"] == "ok"]
    # Only a framework that is not installed here may leave a cell unmeasured.
    unavailable = [c for c in report["cells"] if c["status"] == "unavailable"]
    assert all(c["reason"].endswith("is not installed") for c in unavailable)
    assert {c["backend"] for c in measured} >= {"baseline", "torch"}
    for cell in report["cells"]:
        assert cell["weights"] == {
            "name": "vgg16-random",
            "description": "vgg16 with random He-init weights, seed 0",
        }
        assert cell["images"] == bench_cell.image_sources() and set(cell["images"]) == {"content", "style"}
    for cell in measured:
        assert cell["step_seconds_median"] > 0 and cell["achieved_tflops"] > 0
        assert len(cell["curve"]) >= 2
    torch_cells = [c for c in measured if c["backend"] == "torch"]
    assert all(c["speedup_vs_baseline"] is not None for c in torch_cells)
    assert all(c["seconds_to_target"] is not None for c in torch_cells)  # it reaches its own target
    table = (tmp_path / "ci.md").read_text()
    assert "| torch |" in table and "Weights: vgg16-random" in table and "FAILED" not in table
    assert report["notes"] == "Run by the test suite." and "\nRun by the test suite.\n" in table
    assert (tmp_path / "ci.png").read_bytes()[:4] == b"\x89PNG"
    assert report["environment"]["versions"]["torch"]
    assert report["environment"]["cpu_bf16"] in ("native", "emulated", "unknown")


# Loaded by the cells' interpreters through PYTHONPATH: the jax backend becomes one whose
# load_network raises, as a crash inside a backend would.
CRASHING_SITECUSTOMIZE = """
import nst.backend

nst.backend.REGISTRY["jax"] = ("crashing_backend", "jax")
"""
CRASHING_BACKEND = """
class Crashing:
    name = "jax"

    def resolve_device(self, device):
        return device

    def load_network(self, *args):
        raise RuntimeError("simulated crash inside the backend")


BACKEND = Crashing()
"""


def test_a_cell_that_crashes_is_failed_with_its_error_and_the_bench_exits_1(tmp_path, monkeypatch):
    pytest.importorskip("jax")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CRASHING_SITECUSTOMIZE)
    (hooks / "crashing_backend.py").write_text(CRASHING_BACKEND)
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--backends",
            "jax",
            "--optimizers",
            "adam",
            "--out",
            str(tmp_path),
            "--name",
            "crash",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED jax" in done.stdout and "1 cell(s) failed" in done.stderr
    [cell] = json.loads((tmp_path / "crash.json").read_text())["cells"]
    assert cell["status"] == "failed"
    assert cell["error"][-1] == "RuntimeError: simulated crash inside the backend"
    # The traceback's frames, not just the message.
    assert any("load_network" in line for line in cell["error"])
    assert cell["weights"]["name"] == "vgg16-random" and cell["images"] == bench_cell.image_sources()
    table = (tmp_path / "crash.md").read_text()
    assert "| jax | vgg16-random | 96 | adam | fp32 | FAILED: RuntimeError: simulated crash" in table
    assert "## Failed cells" in table
    assert (tmp_path / "crash.png").read_bytes()[:4] == b"\x89PNG"


def test_cells_for_a_device_that_is_not_there_are_unavailable_and_the_bench_exits_0(tmp_path):
    # PyTorch never has a TPU, whatever the machine.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--device",
            "tpu",
            "--backends",
            "baseline,torch",
            "--optimizers",
            "adam",
            "--out",
            str(tmp_path),
            "--name",
            "tpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith("unavailable ") for line in done.stdout.splitlines()) == 2
    assert "the torch backend does not run on TPUs" in done.stdout
    report = json.loads((tmp_path / "tpu.json").read_text())
    assert [c["status"] for c in report["cells"]] == ["unavailable", "unavailable"]
    assert (
        "| torch | vgg16-random | 96 | adam | fp32 | unavailable: the torch backend does not run on TPUs"
        in (tmp_path / "tpu.md").read_text()
    )


def test_a_framework_that_is_not_installed_makes_its_cells_unavailable(monkeypatch):
    monkeypatch.setitem(bench_cell.FRAMEWORKS, "jax", "no_such_framework")
    spec = {"backend": "jax", "device": "cpu"}
    assert bench_cell.unavailable_reason(spec) == "no_such_framework is not installed"
    assert bench_cell.unavailable_reason({"backend": "torch", "device": "cpu"}) is None


def test_a_bf16_cell_on_a_cpu_without_bf16_hardware_is_marked_emulated(tmp_path, monkeypatch):
    from nst import hardware

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")  # an AVX2-only EPYC
    monkeypatch.setattr(hardware, "CPUINFO", cpuinfo)
    spec = {
        "backend": "torch",
        "size": 32,
        "optimizer": "adam",
        "precision": "bf16",
        "network": "vgg16-random",
        "device": "cpu",
        "steps": 3,
        "chunk": 1,
        "seed": 0,
    }
    result = {
        **bench_cell.run_cell(spec),
        "images": bench_cell.image_sources(),
        "weights": bench_cell.describe_weights("vgg16-random"),
    }
    assert result["status"] == "ok" and result["bf16_emulated"] is True
    add_comparisons([result])
    report = {
        "environment": describe_environment("cpu"),
        "quick": True,
        "wall_seconds": 1.0,
        "cells": [result],
    }
    write_markdown(report, tmp_path / "bf16.md")
    table = (tmp_path / "bf16.md").read_text()
    assert "| torch | vgg16-random | 32 | adam | bf16 (emulated) |" in table
    assert f"bf16 (emulated): {hardware.BF16_EMULATED}." in table


def test_the_baseline_loop_runs_in_true_fp32_whatever_torch_defaults_to():
    import numpy as np
    import torch

    from nst.arch import TINY, random_params
    from nst.options.config import make_config

    # As PyTorch's default lets cuDNN do on NVIDIA GPUs (conftest turns both off for the tests).
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        cfg = make_config("mse", size=32, device="cpu")
        image = np.full((24, 32, 3), 0.5, np.float32)
        bench_cell._baseline(random_params(TINY, seed=0), TINY, image, image, cfg.loss_spec(1), cfg)
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False


def test_multiscale_bench_compares_against_the_single_scale_loss(tmp_path):
    weights = tiny_weights_file(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.multiscale",
            "--size",
            "64",
            "--scales",
            "2",
            "--iterations",
            "10",
            "--weights",
            str(weights),
            "--out",
            str(tmp_path),
            "--name",
            "ms",
            "--notes",
            "Two scales, tiny VGG.",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "ms.json").read_text())
    assert report["notes"] == "Two scales, tiny VGG." and report["images"] == bench_cell.image_sources()
    assert "\nTwo scales, tiny VGG.\n" in (tmp_path / "ms.md").read_text()
    seed = report["by_seed"][0]
    assert seed["multi"][0]["scales"] == [45, 64] and seed["single"]["scales"] == [64]
    assert seed["target_loss"] == seed["single"]["history"][-1]["total"]
    assert {e["size"] for e in seed["multi"][0]["history"]} == {45, 64}
    assert "reaches loss" in (tmp_path / "ms.md").read_text()
    assert (tmp_path / "ms.png").read_bytes()[:4] == b"\x89PNG"


def test_multiscale_bench_compares_each_schedule(tmp_path):
    weights = tiny_weights_file(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.multiscale",
            "--size",
            "64",
            "--iterations",
            "6",
            "--scale-iterations",
            "4,6",
            "--scale-iterations",
            "2,2,6",
            "--weights",
            str(weights),
            "--out",
            str(tmp_path),
            "--name",
            "ms",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads((tmp_path / "ms.json").read_text())["by_seed"][0]["multi"]
    assert [run["scales"] for run in runs] == [[45, 64], [32, 45, 64]]
    assert [run["steps_per_scale"] for run in runs] == [[4, 6], [2, 2, 6]]
    assert [e["step"] for e in runs[1]["history"]][-1] == 10
    table = (tmp_path / "ms.md").read_text()
    assert "32 x 2, 45 x 2, 64 x 6" in table and "45 x 4, 64 x 6" in table


def test_multiscale_bench_repeats_the_comparison_for_each_seed(tmp_path):
    weights = tiny_weights_file(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.multiscale",
            "--size",
            "64",
            "--iterations",
            "6",
            "--scale-iterations",
            "4,6",
            "--init",
            "noise",
            "--seeds",
            "0,1",
            "--weights",
            str(weights),
            "--out",
            str(tmp_path),
            "--name",
            "ms",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "ms.json").read_text())
    assert [seed["seed"] for seed in report["by_seed"]] == [0, 1]
    # Each seed starts from its own noise, so it has its own single-scale run and target.
    first, second = (seed["single"]["history"][0]["total"] for seed in report["by_seed"])
    assert first != second
    assert "Median share over seeds 0, 1 (" in (tmp_path / "ms.md").read_text()


def test_multiscale_bench_records_adams_beta2_and_keeps_dotted_names(tmp_path):
    weights = tiny_weights_file(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.multiscale",
            "--size",
            "64",
            "--iterations",
            "4",
            "--optimizer",
            "adam",
            "--adam-beta2",
            "0.5",
            "--weights",
            str(weights),
            "--out",
            str(tmp_path),
            "--name",
            "ms-beta2-0.5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "ms-beta2-0.5.json").read_text())["adam_beta2"] == 0.5
    assert "adam (beta2 0.5) fp32" in (tmp_path / "ms-beta2-0.5.md").read_text()
    assert (tmp_path / "ms-beta2-0.5.png").exists()


@pytest.mark.parametrize("beta2", ["1", "-0.1", "nan", "fast"])
def test_multiscale_bench_refuses_a_beta2_outside_0_1(beta2, capsys, tmp_path):
    try:  # nst refuses the decay (before any image or weight is loaded); argparse refuses "fast"
        code = multiscale.main(["--optimizer", "adam", "--adam-beta2", beta2, "--out", str(tmp_path)])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    assert "--adam-beta2" in capsys.readouterr().err


def test_multiscale_bench_refuses_what_nst_refuses_in_one_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.multiscale",
            "--size",
            "64",
            "--optimizer",
            "sgd",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bench.multiscale: --optimizer must be one of lbfgs, adam, got 'sgd'"
    ]


def test_a_seed_that_never_reached_its_target_counts_above_every_share():
    def seed(*ratios):
        return {"multi": [{"ratio": ratio} for ratio in ratios]}

    medians = multiscale.median_ratios([seed(0.4, 0.9, None), seed(0.6, None, None), seed(0.5, 0.7, 0.2)])
    assert medians == [0.5, 0.9, None]


def synthetic_multiscale_result(path):
    """Single scale: 20 steps at 64 px; coarse to fine: 10 at 32 px, then 10 at 64 px."""

    def history(entries):
        return [{"step": step, "size": size, "total": total} for step, size, total in entries]

    single = {"history": history([(5, 64, 10.0), (10, 64, 8.0), (15, 64, 6.0), (20, 64, 4.0)])}
    multi = {
        "scales": [32, 64],
        "steps_per_scale": [10, 10],
        "history": history([(5, 32, 1.0), (10, 32, 1.0), (15, 64, 5.0), (20, 64, 3.5)]),
    }
    path.write_text(json.dumps({"size": 64, "by_seed": [{"seed": 0, "single": single, "multi": [multi]}]}))
    return single["history"], multi["history"]


def test_step_cost_charges_each_step_its_size(tmp_path):
    single, multi = synthetic_multiscale_result(tmp_path / "ms.json")
    cost = {32: 1.0, 64: 4.0}
    single, multi = step_cost.costed_curve(single, cost), step_cost.costed_curve(multi, cost)
    # Target 4.0 (after 20 steps): reached at step 20, 10 x 1 s + 10 x 4 s = 50 s of single's 80 s.
    assert step_cost.costed_share(single, multi, 20, 64) == 50 / 80
    # Target 6.0 (after 15): reached at step 15, 10 x 1 s + 5 x 4 s = 30 s of single's 60 s.
    assert step_cost.costed_share(single, multi, 15, 64) == 30 / 60
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.step_cost",
            str(tmp_path / "ms.json"),
            "--seconds-per-step",
            "32=1,64=4",
            "--against",
            "15,20",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "seed 0: 0.50 / 0.62" in done.stdout


def test_step_cost_refuses_sizes_without_a_cost_and_steps_single_did_not_run(tmp_path):
    synthetic_multiscale_result(tmp_path / "ms.json")
    for option, message in [
        (["--seconds-per-step", "64=4"], "no --seconds-per-step for [32] px"),
        (["--seconds-per-step", "32=1,64=4", "--against", "25"], "asks for 25"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "bench.step_cost", str(tmp_path / "ms.json"), *option],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_multiscale_bench_refuses_a_schedule_that_is_not_numbers(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.multiscale", "--scale-iterations", "100,x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "'x' is not a whole number" in done.stderr


@pytest.mark.parametrize(
    "option, message",
    [
        (["--device", "quantum"], "unknown device 'quantum'"),
        (["--backends", "torch,tf"], "unknown 'tf'"),
        (["--sizes", "abc"], "'abc' is not a whole number"),
        (["--sizes", "0"], "at least 1"),
        (["--precisions", "fp8"], "unknown 'fp8'"),
        (["--steps", "x"], "'x' is not a whole number"),
        (["--steps", "60,70"], "--steps must be a whole number"),
        (["--networks", "vgg99-random"], "--networks: unknown 'vgg99-random'"),
    ],
)
def test_the_matrix_refuses_what_no_cell_can_run(tmp_path, option, message):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *option, "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before any cell ran or any file was written


def test_a_gpu_that_is_not_there_makes_its_cells_unavailable_with_a_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--device",
            "cuda",
            "--backends",
            "baseline,torch",
            "--optimizers",
            "adam",
            "--out",
            str(tmp_path),
            "--name",
            "none",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith("unavailable ") for line in done.stdout.splitlines()) == 2
    assert "torch sees no GPU here" in done.stdout
    report = json.loads((tmp_path / "none.json").read_text())
    assert all(cell["status"] == "unavailable" for cell in report["cells"])


def test_conv_layers_times_every_block_on_each_library(capsys):
    from bench import conv_layers

    assert conv_layers.main(["--sizes", "32", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if " at " in line]) == len(conv_layers.BLOCKS)
    assert all(name in lines[-1] for name in ("torch fp32", "torch bf16", "jax fp32"))


def test_cudnn_autotune_check_refuses_in_one_line_without_a_gpu(capsys):
    import torch

    from bench import cudnn_autotune

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert cudnn_autotune.main([]) == 2
    assert cudnn_autotune.main(["--steps", "10"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "python -m bench.cudnn_autotune: needs a CUDA GPU, and torch sees none here",
        "python -m bench.cudnn_autotune: --steps must be more than 10",
    ]


def test_video_bench_compares_each_temporal_setting_with_independent_frames(tmp_path):
    from bench import video

    weights = tiny_weights_file(tmp_path)
    args = ["--frames", "3", "--size", "48", "--iterations", "3", "--frame-iterations", "1,2"]
    args += ["--temporal-weight", "100", "--weights", str(weights), "--out", str(tmp_path), "--name", "clip"]
    assert video.main(args) == 0
    report = json.loads((tmp_path / "clip.json").read_text())
    assert list(report["runs"]) == [
        "independent",
        "temporal weight 100, later frames 1 steps",
        "temporal weight 100, later frames 2 steps",
    ]
    assert report["runs"]["independent"]["steps"] == [3, 3, 3]
    assert report["runs"]["temporal weight 100, later frames 1 steps"]["steps"] == [3, 1, 1]
    assert [c["run"] for c in report["comparisons"]] == list(report["runs"])[1:]
    assert all(c["temporal_error_ratio"] > 0 for c in report["comparisons"])
    assert "| temporal weight 100, later frames 2 steps |" in (tmp_path / "clip.md").read_text()


@pytest.mark.parametrize("backend, optimizer", [("torch", "lbfgs"), ("torch", "adam"), ("baseline", "adam")])
def test_a_cell_reports_its_evaluations_per_step_and_counts_its_flops_from_them(backend, optimizer):
    spec = {
        "backend": backend,
        "size": 48,  # the baseline runs the whole VGG, all five poolings
        "optimizer": optimizer,
        "precision": "fp32",
        "network": "tiny-random",
        "device": "cpu",
        "steps": 5,
        "chunk": 2,
        "seed": 0,
    }
    result = bench_cell.run_cell(spec)
    per_step = result["evaluations_per_step"]
    if backend == "baseline":  # the tutorial loop does not count: one evaluation per step
        assert per_step is None and result["evaluations"] is None
    elif optimizer == "adam":
        assert per_step == 1 and result["evaluations"] == 5
    else:  # a step's line search evaluates at least once
        assert per_step >= 1
    evaluations = 1 if per_step is None else per_step
    expected = result["step_flops"] * evaluations / result["step_seconds_median"] / 1e12
    assert result["achieved_tflops"] == pytest.approx(expected)
    assert result["device_kind"] == "cpu" and result["peak_fraction"] is None


def test_the_jax_cell_names_its_device_kind():
    pytest.importorskip("jax")
    assert bench_cell.device_kind({"backend": "jax", "device": "cpu"}) == "cpu"


def test_a_known_device_has_a_peak_and_an_unknown_one_none():
    from bench.flops import peak_fraction, peak_tflops

    assert peak_fraction(99.0, "NVIDIA H200", "bf16") == pytest.approx(0.1)
    assert peak_tflops("NVIDIA H100 80GB HBM3", "tf32") == 495
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "fp32") == 19.5
    # The PCIe card runs slower than the SXM one its name contains.
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") is None
    for kind in ("cpu", "NVIDIA GeForce RTX 4090", "TPU v5 lite", None):
        assert peak_fraction(1.0, kind, "fp32") is None


def test_the_table_shows_evaluations_compile_time_and_peak_and_dashes_where_unknown(tmp_path):
    measured = {
        "status": "ok",
        "network": "vgg19-random",
        "size": 512,
        "optimizer": "lbfgs",
        "precision": "bf16",
        "setup_seconds": 14.0,
        "first_step_seconds": 0.5,
        "step_seconds_median": 0.004,
        "step_seconds_iqr": 0.0001,
        "peak_memory_bytes": 2**30,
        "final_losses": {"total": 1.5},
        "curve": [[10, 0.04, 1.5]],
        "speedup_vs_baseline": None,
        "seconds_to_target": None,
        "images": {"content": "a.png", "style": "b.png"},
        "weights": {"name": "vgg19-random", "description": "random"},
    }
    jax_cell = measured | {
        "backend": "jax",
        "compile_seconds": 12.25,
        "evaluations_per_step": 1.25,
        "achieved_tflops": 99.0,
        "peak_fraction": 0.1,
    }
    # A cell from before the columns: no compile time, evaluations or peak recorded.
    old_cell = measured | {"backend": "torch", "achieved_tflops": 50.0}
    report = {"environment": describe_environment("cpu"), "quick": False, "wall_seconds": 1.0}
    write_markdown(report | {"cells": [jax_cell, old_cell]}, tmp_path / "table.md")
    table = (tmp_path / "table.md").read_text()
    assert "| setup s | compile s | first step s | step ms | evals/step | TFLOP/s | % of peak |" in table
    assert "| 14.00 | 12.25 | 0.50 | 4.0 ± 0.1 | 1.25 | 99.00 | 10.0% |" in table
    assert "| 14.00 | - | 0.50 | 4.0 ± 0.1 | - | 50.00 | - |" in table


def test_first_image_bench_times_a_cold_and_a_warm_run(tmp_path):
    from bench import first_image

    weights = tiny_weights_file(tmp_path)
    args = ["--backends", "torch", "--size", "48", "--iterations", "2", "--weights", str(weights)]
    args += ["--extra", "--content-layers relu2_1 --style-layers relu1_1,relu2_1"]
    assert first_image.main([*args, "--out", str(tmp_path), "--name", "first"]) == 0
    report = json.loads((tmp_path / "first.json").read_text())
    runs = report["backends"]["torch"]
    assert set(runs) == {"cold", "warm"}
    assert all(run["seconds"] > 0 and run["exit_code"] == 0 and "error" not in run for run in runs.values())
    assert report["settings"]["size"] == 48 and report["environment"]["versions"]["torch"]
    assert "| torch |" in (tmp_path / "first.md").read_text()


def test_first_image_bench_records_a_failing_run_and_exits_1(tmp_path):
    from bench import first_image

    args = ["--backends", "torch", "--size", "48", "--iterations", "2", "--weights", "no-such-weights"]
    assert first_image.main([*args, "--out", str(tmp_path), "--name", "failed"]) == 1
    runs = json.loads((tmp_path / "failed.json").read_text())["backends"]["torch"]
    assert runs["cold"]["exit_code"] == 2 and runs["cold"]["error"].startswith("nst: error:")
    assert "## Failed runs" in (tmp_path / "failed.md").read_text()


def test_lbfgs_bench_runs_both_implementations_to_the_same_loss(tmp_path):
    from bench import lbfgs

    assert lbfgs.main(["--sizes", "32", "--steps", "3", "--repeats", "1", "--out", str(tmp_path)]) == 0
    (report_path,) = tmp_path.glob("lbfgs-cpu-*.json")
    rows = json.loads(report_path.read_text())["rows"]
    assert [row["implementation"] for row in rows] == ["torch.optim.LBFGS", "nst DeviceLBFGS"]
    assert rows[0]["final_loss"] == pytest.approx(rows[1]["final_loss"], rel=1e-5)
    assert rows[0]["evaluations"] == rows[1]["evaluations"] >= 4
    assert report_path.with_suffix(".md").exists()
