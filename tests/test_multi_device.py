"""One image over several devices (``--device cuda:0,cuda:1`` or ``all``): the lists, their
errors, and every multi-device evaluation equal to one device's.

JAX is tested on two host devices, which XLA makes only at start-up (``XLA_FLAGS``), so those
checks run in a child process (``sharded_measurements``). torch is tested with two replicas
on the CPU, which the CLI refuses (one device twice) but ``TiledEvaluation`` takes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nst import devices
from nst.arch import TINY, TORCHVISION, random_params
from nst.backend import get_backend
from nst.errors import NstError
from nst.masks import build_guides
from nst.options.config import make_config
from tests.helpers import cli_files, smooth_image, tiny_weights_file
from tests.test_cli import assert_one_line_error, run_cli, stylize_args

REPO = Path(__file__).resolve().parents[1]
SHALLOW_LAYERS = {"style_layers": ("relu1_1", "relu2_1"), "content_layers": ("relu2_1",)}
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


# --- device lists -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, found, names",
    [
        ("all", ["cpu", "cuda:0", "cuda:1"], ["cuda:0", "cuda:1"]),
        ("all", ["cpu:0", "cpu:1"], ["cpu:0"]),  # no accelerator: the CPU, once
        ("cuda:0, cuda:1", ["cpu"], ["cuda:0", "cuda:1"]),
        ("gpu:1", ["cpu"], ["gpu:1"]),
        ("auto", ["cpu"], ["auto"]),
    ],
)
def test_device_names(spec, found, names):
    assert devices.device_names(spec, found) == names


@pytest.mark.parametrize(
    "spec, message",
    [
        ("cuda:0,,cuda:1", "empty item"),
        ("cuda:0,", "empty item"),
        ("auto,cpu", "auto stands alone"),
        ("cuda:0,all", "all stands alone"),
        ("cpu,cuda:0", "mixes kinds of device"),
        ("cpu,quantum", "unknown device 'quantum'"),
        ("cuda:1,cuda:1", "lists 'cuda:1' twice"),
        ("cuda,gpu:0", "lists 'cuda' and 'gpu:0', one device,"),
    ],
)
def test_bad_device_lists(spec, message):
    with pytest.raises(NstError, match=message):
        devices.resolve_devices(spec, ["cpu"], lambda name: name)


def test_two_names_of_one_device_are_refused():
    # torch has one CPU device whatever the index.
    with pytest.raises(NstError, match="'cpu:0' and 'cpu:1', one device"):
        devices.resolve_devices("cpu:0,cpu:1", ["cpu"], lambda name: "cpu")


@pytest.fixture
def files(tmp_path):
    return cli_files(tmp_path)


@pytest.mark.parametrize(
    "device, fragments",
    [
        ("cpu,cpu", ["--device lists 'cpu' twice"]),
        ("cpu,quantum", ["unknown device 'quantum'"]),
        ("cpu,,cpu", ["empty item"]),
        ("cpu,cuda:0", ["mixes kinds"]),
    ],
)
def test_a_bad_device_list_is_one_line_and_exit_2(files, capsys, backend_name, device, fragments):
    code, _, err = run_cli(stylize_args(files, "--device", device, backend=backend_name), capsys)
    assert_one_line_error(code, err, *fragments)


def test_all_runs_on_the_cpu_when_there_is_no_accelerator(files, capsys, backend_name):
    backend = get_backend(backend_name)
    if any(not name.startswith("cpu") for name in backend.devices()):
        pytest.skip("an accelerator is here: 'all' would take it")
    code, out, err = run_cli(stylize_args(files, "--device", "all", backend=backend_name), capsys)
    assert code == 0, err
    assert "wrote" in out


# --- torch: tiles shared among devices ----------------------------------------------------


def torch_problem(case, height=40, width=56):
    """(spec, single-device net, two CPU replicas, content, styles, guides, image)."""
    import torch

    from nst.backends.torch.backend import TorchNetwork

    options = {"normalization": "mse", "tv_weight": 2.0, "style_weight": 50.0, **SHALLOW_LAYERS}
    if case == "meancov":
        options["style_loss"] = "meancov"
    styles = [smooth_image(30, 41, 1), smooth_image(37, 29, 2)][: 2 if case == "masks" else 1]
    spec = make_config(**options).loss_spec(len(styles))
    one = get_backend("torch").load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, "max", "cpu")
    two = TorchNetwork([one.module, copy.deepcopy(one.module)], [torch.device("cpu")] * 2)
    guides = None
    if case == "masks":
        left = np.broadcast_to((np.arange(width) < width / 3).astype(np.float32), (height, width))
        layers = [layer for layer, _ in spec.style]
        guides = build_guides([left, 1 - left], None, (height, width), styles, TINY, layers, spec.style_blend)
    content, image = smooth_image(height, width, 3), smooth_image(height, width, 4)
    return spec, one, two, content, styles, guides, image


def assert_near(terms, gradient, other_terms, other_gradient):
    for key, value in terms.items():
        assert other_terms[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    cosine = np.sum(gradient * other_gradient) / np.linalg.norm(gradient) / np.linalg.norm(other_gradient)
    assert cosine >= 0.99999
    assert np.abs(other_gradient - gradient).max() <= 1e-4 * np.abs(gradient).max()


@needs_torch
@pytest.mark.parametrize("case", ["gram", "meancov", "masks"])
def test_torch_tiles_on_two_devices_equal_one_devices(case):
    # 40 x 56 px in tiles of 16: 3 x 4 tiles, alternating between the replicas.
    spec, one, two, content, styles, guides, image = torch_problem(case)
    backend = get_backend("torch")
    second = []
    two.modules[1].register_forward_hook(lambda *_: second.append(1))
    results = []
    for net in (one, two):
        targets = backend.prepare_targets(net, content, styles, spec, guides, tile=16)
        results.append(
            (
                backend.loss_terms(net, targets, image, spec, tile=16),
                backend.loss_gradient(net, targets, image, spec, tile=16),
            )
        )
    assert_near(*results[0], *results[1])
    # The second replica ran half the tiles of each pass: the loss's one, the gradient's two.
    assert len(second) == 3 * 12 // 2


@needs_torch
def test_torch_on_two_devices_tiles_unasked_and_follows_one_devices_iterates():
    # No tile asked for: one device evaluates the whole image, two share it in tiles.
    spec, one, two, content, styles, _, image = torch_problem("gram")
    assert one.tile_for(image.shape, None) is None
    plan = two.tile_plan(image.shape, two.tile_for(image.shape, None))
    assert plan.count >= 2
    backend = get_backend("torch")
    second = []
    two.modules[1].register_forward_hook(lambda *_: second.append(1))
    settings = make_config(optimizer="adam", lr=0.02).run_settings()
    images = []
    for net in (one, two):
        targets = backend.prepare_targets(net, content, styles, spec)
        run = backend.start(net, targets, image, spec, settings)
        assert (run.tiled is not None) == (net is two)
        run.advance(3)
        run.advance(2)
        images.append(run.image())
    # The second replica took its share of the steps' tiles.
    assert second
    assert np.abs(images[1] - images[0]).mean() < 1e-5
    moved = float(np.abs(images[0] - image).mean())
    assert moved > 1e-4


@needs_torch
@pytest.mark.gpu
def test_torch_on_two_gpus_equals_one():
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    spec, _, _, content, styles, _, image = torch_problem("gram", 96, 128)
    backend = get_backend("torch")
    results = []
    for device in ("cuda:0", "cuda:0,cuda:1"):
        net = backend.load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, "max", device)
        assert net.device == device
        targets = backend.prepare_targets(net, content, styles, spec)
        results.append(
            (backend.loss_terms(net, targets, image, spec), backend.loss_gradient(net, targets, image, spec))
        )
    assert_near(*results[0], *results[1])


# --- JAX: the image sharded over a mesh ---------------------------------------------------


def sharded_measurements(weights: str) -> dict:
    """Run in a process with two host devices: each case's loss terms and gradient, and a few
    optimiser steps, on cpu:0 and sharded over cpu:0,cpu:1, compared."""
    import jax

    from nst.backends.jax import optim
    from nst.stylize import StyleTransfer

    assert len(jax.devices("cpu")) == 2, "XLA_FLAGS did not give two host devices"
    backend = get_backend("jax")
    # 75 rows: uneven over two devices, so the optimiser's arrays are padded to 76.
    content, image = smooth_image(75, 101, 1), smooth_image(75, 101, 3)
    styles = [smooth_image(70, 53, 2), smooth_image(45, 80, 4)]
    out: dict = {}
    for case in ("gram", "meancov", "masks", "temporal", "tiled"):
        # The network's every level in one case; the rest compile faster on two.
        options = {"normalization": "mse", "tv_weight": 2.0, "style_weight": 50.0}
        options.update({} if case == "gram" else SHALLOW_LAYERS)
        if case == "meancov":
            options["style_loss"] = "meancov"
        case_styles = styles if case == "masks" else styles[:1]
        spec = make_config(**options).loss_spec(len(case_styles))
        guides = temporal = None
        if case == "masks":
            left = np.broadcast_to((np.arange(101) < 101 / 3).astype(np.float32), (75, 101))
            layers = [layer for layer, _ in spec.style]
            guides = build_guides(
                [left, 1 - left], None, (75, 101), case_styles, TINY, layers, spec.style_blend
            )
        if case == "temporal":
            spec = replace(spec, temporal=10.0)
            temporal = (smooth_image(75, 101, 5), (smooth_image(75, 101, 6)[..., 0] > 0.5).astype(np.float32))
        tile = 16 if case == "tiled" else None
        results = []
        for device in ("cpu:0", "cpu:0,cpu:1"):
            net = backend.load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, "max", device)
            targets = backend.prepare_targets(net, content, case_styles, spec, guides, temporal, tile)
            results.append(
                (
                    backend.loss_terms(net, targets, image, spec, tile),
                    backend.loss_gradient(net, targets, image, spec, tile),
                )
            )
        (terms, gradient), (sharded_terms, sharded_gradient) = results
        out[case] = {
            "relative": max(abs(sharded_terms[k] - v) / abs(v) for k, v in terms.items() if v),
            "cosine": float(
                np.sum(gradient * sharded_gradient)
                / np.linalg.norm(gradient)
                / np.linalg.norm(sharded_gradient)
            ),
            # The cosine cannot see a constant factor; the largest difference can.
            "max_abs": float(np.abs(sharded_gradient - gradient).max() / np.abs(gradient).max()),
        }
    spec = make_config(normalization="mse", tv_weight=2.0, **SHALLOW_LAYERS).loss_spec(1)
    for optimizer, ema in (("adam", 0.5), ("lbfgs", 0.0)):
        settings = make_config(
            optimizer=optimizer, lr=0.02 if optimizer == "adam" else 1.0, ema=ema
        ).run_settings()
        images, placed = [], {}
        for device in ("cpu:0", "cpu:0,cpu:1"):
            net = backend.load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, "max", device)
            targets = backend.prepare_targets(net, content, styles[:1], spec)
            executables = optim._run_chunk._cache_size()
            run = backend.start(net, targets, image, spec, settings)
            for chunk in (3, 3, 2):
                run.advance(chunk)
            images.append(run.image())
            placed = {
                "devices": len(run._image.sharding.device_set),
                "shape": list(run._image.shape),
                "split": tuple(getattr(run._image.sharding, "spec", ()))[:1] == ("height",),
                "compiled": optim._run_chunk._cache_size() - executables,
            }
        out[optimizer] = {
            "mean": float(np.abs(images[1] - images[0]).mean()),
            "moved": float(np.abs(images[0] - image).mean()),
            "placed": placed,
        }
    # The driver, relative loss and all: 47 rows at 64 px.
    driven = []
    for device in ("cpu:0", "cpu:0,cpu:1"):
        cfg = make_config(
            weights=weights, size=64, iterations=4, optimizer="adam", device=device, **SHALLOW_LAYERS
        )
        transfer = StyleTransfer(cfg, "jax").prepare(smooth_image(47, 64, 7), [smooth_image(50, 50, 8)])
        driven.append((transfer.net.device, transfer.initial_image(), transfer.run().image))
    (_, start, one), (devices, _, two) = driven
    out["driver"] = {
        "devices": devices,
        "mean": float(np.abs(two - one).mean()),
        "moved": float(np.abs(one - start).mean()),
    }
    return out


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    weights = tiny_weights_file(tmp_path_factory.mktemp("weights"))
    env = {
        **os.environ,
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip(),
        "JAX_PLATFORMS": "cpu",
    }
    script = (
        "import json, sys; from tests.test_multi_device import sharded_measurements; "
        "print(json.dumps(sharded_measurements(sys.argv[1])))"
    )
    # -W error: a donated buffer that the step could not reuse is a warning.
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(weights)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@needs_jax
@pytest.mark.parametrize("case", ["gram", "meancov", "masks", "temporal", "tiled"])
def test_jax_sharded_loss_and_gradient_equal_one_devices(sharded, case):
    assert sharded[case]["relative"] <= 1e-5
    assert sharded[case]["cosine"] >= 0.99999
    assert sharded[case]["max_abs"] <= 1e-4


@needs_jax
@pytest.mark.parametrize("optimizer, tolerance", [("adam", 1e-5), ("lbfgs", 1e-3)])
def test_jax_sharded_steps_follow_one_devices_and_compile_once(sharded, optimizer, tolerance):
    result = sharded[optimizer]
    assert result["mean"] < tolerance
    # The agreement means something: the steps moved the image far past the tolerance.
    assert result["moved"] > 10 * tolerance
    # The image split by rows over both devices, its 75 rows padded to 76; one executable
    # for all chunks (each step hands its arrays back split as they came).
    assert result["placed"] == {"devices": 2, "shape": [76, 101, 3], "split": True, "compiled": 1}


@needs_jax
def test_jax_driver_runs_one_image_on_two_devices(sharded):
    assert sharded["driver"]["devices"] == "cpu:0,cpu:1"
    assert sharded["driver"]["mean"] < 1e-5
    assert sharded["driver"]["moved"] > 1e-4
