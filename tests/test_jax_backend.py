"""The JAX backend on its own: compile once, devices, determinism, optimisers, pooling, donation.

Runs on the tiny random VGG cut after block 2 (compiles in seconds on a CPU).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import jax  # noqa: E402

from nst.arch import CAFFE, TINY, TORCHVISION, random_params  # noqa: E402
from nst.backend import get_backend  # noqa: E402
from nst.backends.jax import optim  # noqa: E402
from nst.errors import NstError  # noqa: E402
from tests.helpers import tiny_problem  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    return get_backend("jax")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return {name: rng.random((24, 32, 3), dtype=np.float32) for name in ("content", "style")}


# --- compile once -------------------------------------------------------------------------


def test_a_run_of_chunks_compiles_the_step_once(backend, monkeypatch):
    # A shape no other test uses, so this run cannot find the executable cached.
    rng = np.random.default_rng(1)
    content, style = rng.random((20, 28, 3), dtype=np.float32), rng.random((20, 28, 3), dtype=np.float32)
    cfg, spec, net, targets = tiny_problem(backend, {"content": content, "style": style}, optimizer="adam")
    traces = []
    traced_objective = optim.objective
    monkeypatch.setattr(optim, "objective", lambda *a: traces.append(1) or traced_objective(*a))
    executables = optim._run_chunk._cache_size()

    run = backend.start(net, targets, content, spec, cfg.run_settings())
    traced_in_start = len(traces)
    assert traced_in_start > 0 and run.compile_seconds > 0
    for chunk in (4, 4, 4, 4, 3):  # equal chunks, then a shorter remainder
        run.advance(chunk)
    assert len(traces) == traced_in_start, "advance traced the step function again"
    assert optim._run_chunk._cache_size() == executables + 1


def test_a_second_run_with_equal_settings_reuses_the_executable(backend, images):
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="adam")
    backend.start(net, targets, images["content"], spec, cfg.run_settings()).advance(1)
    executables = optim._run_chunk._cache_size()
    backend.start(net, targets, images["style"], spec, cfg.run_settings()).advance(2)
    assert optim._run_chunk._cache_size() == executables


def test_video_frames_reuse_the_executable(backend, images):
    # The temporal targets are arrays in the targets pytree: a new frame's previous output and
    # confidence, of the same shapes, run the step compiled for the first frame.
    cfg, spec, net, _ = tiny_problem(backend, images, optimizer="adam")
    spec = replace(spec, temporal=10.0)
    rng = np.random.default_rng(2)
    executables = None
    for frame in range(3):
        previous = rng.random(images["content"].shape, dtype=np.float32)
        confidence = (rng.random(previous.shape[:2]) > 0.5).astype(np.float32)
        targets = backend.prepare_targets(
            net, previous, [images["style"]], spec, temporal=(previous, confidence)
        )
        backend.start(net, targets, previous, spec, cfg.run_settings()).advance(2)
        if frame == 0:
            executables = optim._run_chunk._cache_size()
    assert optim._run_chunk._cache_size() == executables


def test_image_pairs_with_their_own_weights_reuse_the_executable(backend, images):
    # Under 'relative' every pair resolves to its own weights: they are traced arguments of
    # the step, so a second pair's run finds the first's executable, and its loss is its own.
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="adam")
    first = backend.start(net, targets, images["content"], spec, cfg.run_settings())
    first_terms = first.advance(2)
    executables = optim._run_chunk._cache_size()
    heavier = replace(
        spec,
        content=tuple((l, 3 * w) for l, w in spec.content),
        style=tuple((l, w / 2) for l, w in spec.style),
    )
    second = backend.start(net, targets, images["content"], heavier, cfg.run_settings())
    second_terms = second.advance(2)
    assert optim._run_chunk._cache_size() == executables
    assert second_terms["content"] != pytest.approx(first_terms["content"], rel=0.1)
    expected = backend.loss_terms(net, targets, second.image(), heavier)
    assert second_terms["total"] == pytest.approx(expected["total"], rel=1e-5)


# --- devices ------------------------------------------------------------------------------


def test_devices_lists_the_cpu(backend):
    assert "cpu:0" in backend.devices()


@pytest.mark.parametrize("name", ["cpu", "cpu:0"])
def test_cpu_resolves(backend, name):
    assert backend.resolve_device(name) == jax.devices("cpu")[0]


def test_auto_is_jax_default_device(backend):
    assert backend.resolve_device("auto") == jax.devices()[0]


@pytest.mark.parametrize(
    "name, message",
    [
        ("mps", "unknown device 'mps'"),
        ("cuda:x", "unknown device 'cuda:x'"),
        ("cpu:3", "device 'cpu:3' does not exist"),
    ],
)
def test_bad_device_is_one_clear_line(backend, name, message):
    with pytest.raises(NstError, match=message) as info:
        backend.resolve_device(name)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name, platform", [("cuda", "gpu"), ("gpu", "gpu"), ("cuda:1", "gpu"), ("tpu", "tpu")]
)
def test_absent_accelerator_is_an_nst_error(backend, name, platform):
    try:
        present = jax.devices(platform)
    except RuntimeError:
        present = []
    if present:
        pytest.skip(f"this machine has a {platform}")
    with pytest.raises(NstError, match=f"device '{name}' asked for, but jax sees no {platform.upper()}"):
        backend.load_network(random_params(TINY), TINY, TORCHVISION, ("relu1_1",), "max", name)


def test_network_reports_its_device(backend):
    net = backend.load_network(random_params(TINY), TINY, TORCHVISION, ("relu1_1",), "max", "cpu")
    assert net.device == "cpu:0"
    assert all(leaf.devices() == {jax.devices("cpu")[0]} for leaf in jax.tree.leaves(net.params))


# --- determinism --------------------------------------------------------------------------


def test_features_are_bitwise_deterministic(backend, images):
    net = backend.load_network(random_params(TINY), TINY, CAFFE, ("relu1_1", "pool2"), "max", "cpu")
    first, second = net.features(images["content"]), net.features(images["content"])
    assert all(np.array_equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_runs_are_bitwise_deterministic(backend, images, optimizer):
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer=optimizer, tv_weight=1.0)
    outcomes = []
    for _ in range(2):
        run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
        losses = [run.advance(3), run.advance(2)]
        outcomes.append((losses, run.image()))
    assert outcomes[0][0] == outcomes[1][0]
    assert np.array_equal(outcomes[0][1], outcomes[1][1])


# --- optimisers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer, steps, precision",
    [("adam", 30, "fp32"), ("lbfgs", 10, "fp32"), ("adam", 30, "bf16"), ("lbfgs", 10, "bf16")],
)
def test_optimizer_lowers_the_loss(backend, images, optimizer, steps, precision):
    cfg, spec, net, targets = tiny_problem(
        backend, images, optimizer=optimizer, tv_weight=1.0, precision=precision
    )
    initial = backend.loss_terms(net, targets, images["content"], spec)["total"]
    run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
    final = run.advance(steps)["total"]
    assert np.isfinite(final) and final < 0.5 * initial


def test_reported_losses_belong_to_the_returned_image(backend, images):
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="lbfgs", tv_weight=1.0)
    run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
    reported = run.advance(4)
    recomputed = backend.loss_terms(net, targets, run.image(), spec)
    assert reported == pytest.approx(recomputed, rel=1e-6)


# --- donation -----------------------------------------------------------------------------


def test_donation_leaves_inputs_and_snapshots_intact(backend, images):
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="adam")
    init = images["content"].copy()
    run = backend.start(net, targets, init, spec, cfg.run_settings())
    before = run.image()
    run.advance(5)
    middle = run.image()
    run.advance(5)
    after = run.image()
    assert np.array_equal(init, images["content"]), "the caller's init array was overwritten"
    assert np.array_equal(before, images["content"])
    assert not np.array_equal(middle, before) and not np.array_equal(after, middle)
    assert after.shape == init.shape and after.dtype == np.float32


# --- pooling ------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling, reduce", [("avg", np.mean), ("max", np.max)])
def test_pooling_is_2x2_stride_2(backend, pooling, reduce):
    image = np.random.default_rng(2).random((13, 11, 3), dtype=np.float32)  # odd: floor, as torch
    net = backend.load_network(random_params(TINY), TINY, TORCHVISION, ("relu1_2", "pool1"), pooling, "cpu")
    out = net.features(image)
    relu = out["relu1_2"][:, :12, :10]
    expected = reduce(relu.reshape(relu.shape[0], 6, 2, 5, 2), axis=(2, 4))
    assert out["pool1"].shape == (4, 6, 5)
    np.testing.assert_allclose(out["pool1"], expected, rtol=1e-6, atol=1e-7)


# --- the convolution's hand-written input gradient ----------------------------------------


def test_conv3x3_gradients_equal_jax_own():
    from jax import lax

    from nst.backends.jax.conv import conv3x3

    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 9, 7, 5)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 5, 6)).astype(np.float32)
    weights = rng.standard_normal((1, 9, 7, 6)).astype(np.float32)

    def plain(x, k):
        return lax.conv_general_dilated(
            x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    ours = jax.grad(lambda x, k: (conv3x3(x, k) * weights).sum(), argnums=(0, 1))(x, kernel)
    theirs = jax.grad(lambda x, k: (plain(x, k) * weights).sum(), argnums=(0, 1))(x, kernel)
    np.testing.assert_array_equal(plain(x, kernel), conv3x3(x, kernel))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_step_convolutions_stay_on_xla_cpu_fast_path(backend, images):
    """Inside the step's loops every convolution takes an HWIO ("01io") kernel; an "01oi" one
    is what JAX's own conv gradient becomes there, and XLA:CPU runs it ~3x slower."""
    cfg, spec, net, targets = tiny_problem(backend, images, optimizer="lbfgs")
    run = backend.start(net, targets, images["content"], spec, cfg.run_settings())
    hlo = (
        optim._run_chunk.lower(
            *run._static,
            run._image,
            run._opt_state,
            run._average,
            np.int32(1),
            net.params,
            targets,
            run._weights,
        )
        .compile()
        .as_text()
    )
    assert "convolution(" in hlo and "01oi" not in hlo


def test_bf16_runs_the_network_in_bf16_and_the_losses_in_fp32(backend, images):
    import jax.numpy as jnp

    from nst.backends.jax.losses import objective

    cfg, spec, net, targets = tiny_problem(backend, images)
    bf16 = net.module.clone(precision="bf16")
    features = bf16.apply({"params": net.params}, jnp.asarray(images["content"])[None])
    assert all(value.dtype == jnp.bfloat16 for value in features.values())
    terms = objective(
        bf16, spec.unweighted(), net.params, targets, spec.weights, jnp.asarray(images["content"])
    )
    assert all(value.dtype == jnp.float32 for value in terms.values())


def test_compiled_steps_persist_in_the_nst_cache(tmp_path):
    """A run writes its executables under <NST_CACHE_DIR>/jax (in a fresh process: the cache
    folder is process-wide JAX state). The threshold is lowered so the tiny network's short
    compilations are kept too."""
    script = (
        "import numpy as np, nst\n"
        "from nst.arch import TINY, random_params\n"
        "from safetensors.numpy import save_file\n"
        f"save_file(random_params(TINY, seed=0), {str(tmp_path / 'tiny.safetensors')!r})\n"
        "rng = np.random.default_rng(0)\n"
        "nst.stylize(rng.random((40, 48, 3)), rng.random((40, 40, 3)), backend='jax', size=40,\n"
        f"            iterations=2, device='cpu', weights={str(tmp_path / 'tiny.safetensors')!r})\n"
    )
    env = {
        **os.environ,
        "NST_CACHE_DIR": str(tmp_path / "cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert any((tmp_path / "cache" / "jax").iterdir())
