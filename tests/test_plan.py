"""A run's plan: computed once, printed by --plan, tiles or refuses what does not fit."""

from __future__ import annotations

import json

import pytest

from nst import memory
from nst.arch import VGG16
from nst.backend import get_backend
from nst.cli import main
from nst.errors import NstError
from nst.options.config import make_config
from nst.plan import MEMORY_SHARE, plan_run
from nst.step_costs import StepCost, estimated_seconds, measured_step_cost
from nst.stylize import StyleTransfer
from tests.helpers import SHALLOW, cli_files, smooth_image, tiny_weights_file

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2")


def _plan(machine_bytes, **options):
    cfg = make_config(size=4096, **options)
    return plan_run(
        (3072, 4096), cfg, get_backend("torch"), VGG16, LAYERS, ("relu4_2",), "cpu", True, machine_bytes
    )


def test_a_plan_holds_every_scale_and_fits_the_whole_image_when_it_can():
    plan = _plan(1024 * memory.GIB)
    cfg = make_config(size=4096)
    assert [s.size for s in plan.scales] == list(cfg.scale_sizes)
    assert [s.steps for s in plan.scales] == list(cfg.steps_per_scale) and plan.total_steps == sum(
        cfg.steps_per_scale
    )
    assert all(s.tile is None and s.lbfgs_history == cfg.lbfgs_history for s in plan.scales)
    assert plan.last.memory_bytes < plan.available_bytes == int(MEMORY_SHARE * 1024 * memory.GIB)
    assert (plan.last.height, plan.last.width) == (3072, 4096) and plan.refusal is None


def test_a_small_machine_gets_tiles_then_a_shorter_history_then_a_refusal():
    whole = _plan(1024 * memory.GIB).last.memory_bytes
    tiled = _plan(int(whole / MEMORY_SHARE) // 2)
    assert tiled.last.tile in (512, 256) and tiled.last.memory_bytes <= tiled.available_bytes
    adam = _plan(8 * memory.GIB, optimizer="adam")
    assert adam.last.tile is not None and adam.refusal is None
    shortened = _plan(8 * memory.GIB)
    assert shortened.last.tile is not None and 10 <= shortened.last.lbfgs_history < 50
    refused = _plan(2 * memory.GIB)
    assert refused.refusal and "--optimizer adam" in refused.refusal
    with pytest.raises(NstError, match="even in tiles"):
        refused.check()
    assert "refused:" in refused.describe()


def test_off_the_cpu_memory_is_not_estimated_and_says_so():
    cfg = make_config(size=512, tile="256")
    plan = plan_run((384, 512), cfg, get_backend("torch"), VGG16, LAYERS, ("relu4_2",), "cuda:0", False)
    assert all(s.memory_bytes is None and s.tile == 256 for s in plan.scales)
    assert "not estimated off the CPU" in plan.describe()


def test_a_run_plans_once(tmp_path, monkeypatch, backend_name):
    reads = []
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: reads.append(1) or 64 * memory.GIB)
    cfg = make_config(size=48, scales=2, iterations=2, weights=str(tiny_weights_file(tmp_path)), **SHALLOW)
    transfer = StyleTransfer(cfg, backend_name).prepare(smooth_image(40, 48, 1), [smooth_image(32, 32, 2)])
    transfer.run()
    assert len(reads) == 1 and [s.size for s in transfer.plan.scales] == list(cfg.scale_sizes)


def test_plan_flag_prints_the_plan_and_writes_nothing(tmp_path, capsys, monkeypatch):
    folder, content, style, weights = cli_files(tmp_path)
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: 8 * memory.GIB)
    argv = ["stylize", str(content), str(style), "--plan", "--weights", str(weights), "--size", "4096"]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "scale 9: 4096x2926 px, 2 steps, tiles of 512 px" in out and "lbfgs, history 14" in out
    assert "time:" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(["content.png", "style.png", weights.name])
    code = main(argv + ["--tile", "off"])
    captured = capsys.readouterr()
    assert code == 2 and "refused:" in captured.out
    assert captured.err.count("\n") == 1 and "use --tile auto" in captured.err


def test_the_time_comes_from_measured_steps_on_this_machine(tmp_path, monkeypatch):
    from nst import hardware

    monkeypatch.setattr(hardware, "cpu_model", lambda: "Test CPU")
    cell = {"backend": "torch", "optimizer": "lbfgs", "precision": "fp32", "network": "vgg19"}
    cells = [{**cell, "height": 96, "width": 128, "step_seconds_median": 0.1}]
    cells.append({**cell, "height": 192, "width": 256, "step_seconds_median": 0.5})
    run = {"environment": {"device": "cpu", "cpu": "Test CPU"}, "cells": cells}
    (tmp_path / "cpu.json").write_text(json.dumps(run))
    cost = measured_step_cost("torch", "lbfgs", "fp32", "cpu", tmp_path)
    assert cost == StepCost(0.5 / (192 * 256), "cpu.json: vgg19 at 256x192 px")
    plan = _plan(1024 * memory.GIB)
    expected = sum(0.5 / (192 * 256) * s.height * s.width * s.steps for s in plan.scales)
    assert estimated_seconds(plan, cost) == pytest.approx(expected)
    assert measured_step_cost("jax", "lbfgs", "fp32", "cpu", tmp_path) is None
    monkeypatch.setattr(hardware, "cpu_model", lambda: "Another CPU")
    assert measured_step_cost("torch", "lbfgs", "fp32", "cpu", tmp_path) is None
