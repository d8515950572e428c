"""Tiling (nst.tiling): the plan, and tiled targets, loss and gradient equal to the whole image's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nst import color, memory
from nst.arch import TINY, TORCHVISION, VGG16, VGG19, random_params
from nst.backend import get_backend
from nst.errors import NstError
from nst.masks import build_guides
from nst.objective import statistics_of
from nst.options.config import make_config
from nst.plan import MEMORY_SHARE, MIN_AUTO_LBFGS_HISTORY
from nst.stylize import StyleTransfer
from nst.tiling import TilePlan, plan_tiles, receptive_extent
from tests.helpers import smooth_image, tiny_weights_file

DEEP = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def test_the_halo_covers_the_receptive_field_on_the_pooling_grid():
    # VGG19's relu5_1 sees 156 px: 70 on either side of a 16 px cell of the grid.
    assert receptive_extent(VGG19, ["relu5_1"]) == 70
    plan = plan_tiles(1000, 700, 300, VGG19, DEEP)
    assert plan.grid == 16 and plan.halo == 80 and plan.core == 304
    assert plan.halo >= receptive_extent(VGG19, DEEP)
    assert plan.halo % plan.grid == 0 and plan.core % plan.grid == 0
    shallow = plan_tiles(1000, 700, 300, VGG16, ["relu2_1"])
    assert shallow.grid == 2 and shallow.halo >= receptive_extent(VGG16, ["relu2_1"]) == 4


@pytest.mark.parametrize("height, width, core", [(100, 70, 32), (64, 64, 64), (33, 130, 16), (50, 20, 1000)])
def test_cores_cover_every_pixel_once_and_tiles_lie_in_the_padded_image(height, width, core):
    plan = plan_tiles(height, width, core, TINY, DEEP)
    covered = np.zeros(plan.padded_shape, int)
    for y, x in plan.origins():
        assert y + plan.side <= plan.padded_shape[0] and x + plan.side <= plan.padded_shape[1]
        covered[plan.halo + y : plan.halo + y + plan.core, plan.halo + x : plan.halo + x + plan.core] += 1
    image = covered[plan.halo : plan.halo + height, plan.halo : plan.halo + width]
    assert (image == 1).all()
    for level in range(plan.levels + 1):
        # Each level's positions inside the image are counted by exactly one core.
        counts = np.zeros(plan.padded_map_shape(level))
        for y, x in plan.origins():
            core = plan.core_positions(level)
            rows, cols = plan.inside(y, level, 0)[core], plan.inside(x, level, 1)[core]
            counts[plan.core_slice(y, level), plan.core_slice(x, level)] += np.outer(rows, cols)
        assert counts.sum() == plan.valid_length(level, 0) * plan.valid_length(level, 1)
        assert counts.max() == 1


def test_a_tile_smaller_than_the_grid_is_refused():
    with pytest.raises(NstError, match="smaller than the network's grid of 16 px"):
        plan_tiles(100, 100, 8, TINY, DEEP)


def problem(backend_name, case, tile, height=75, width=101):
    """(whole, tiled) loss terms and gradients of one random image on the tiny VGG."""
    backend = get_backend(backend_name)
    rng = np.random.default_rng(0)
    content, image = (rng.random((height, width, 3), dtype=np.float32) for _ in range(2))
    styles = [smooth_image(70, 53, 1), smooth_image(45, 80, 2)][: 2 if case in ("two styles", "masks") else 1]
    options = {"normalization": "mse", "tv_weight": 2.0, "style_weight": 50.0}
    if case == "meancov":
        options["style_loss"] = "meancov"
    spec = make_config(**options).loss_spec(len(styles))
    if case == "luminance":
        content, styles = color.transfer_inputs("luminance", content, styles)
    net = backend.load_network(random_params(TINY), TINY, TORCHVISION, spec.layers, "max", "cpu")
    guides = None
    if case == "masks":
        left = np.broadcast_to((np.arange(width) < width / 3).astype(np.float32), (height, width))
        guides = build_guides([left, 1 - left], None, (height, width), styles, TINY, DEEP, spec.style_blend)
    results = []
    for tiles in (None, tile):
        targets = backend.prepare_targets(net, content, styles, spec, guides, tile=tiles)
        results.append(
            (
                backend.loss_terms(net, targets, image, spec, tile=tiles),
                backend.loss_gradient(net, targets, image, spec, tile=tiles),
            )
        )
    return results


def assert_equal_up_to_rounding(whole, tiled):
    (terms, gradient), (tiled_terms, tiled_gradient) = whole, tiled
    for key, value in terms.items():
        assert tiled_terms[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    cosine = np.sum(gradient * tiled_gradient) / np.linalg.norm(gradient) / np.linalg.norm(tiled_gradient)
    assert cosine >= 0.99999
    assert np.abs(tiled_gradient - gradient).max() <= 1e-4 * np.abs(gradient).max()


@pytest.mark.parametrize("case", ["gram", "meancov", "masks", "two styles", "luminance"])
def test_tiled_loss_and_gradient_equal_the_whole_images(backend_name, case):
    # 75 x 101 px in tiles of 32: 3 x 4 tiles, the last row and column cut by the image's edge.
    whole, tiled = problem(backend_name, case, 32)
    assert_equal_up_to_rounding(whole, tiled)


def test_a_halo_one_grid_step_short_is_not_exact(monkeypatch):
    # The tiny VGG's relu5_2 reaches 74 px past a core: a halo of 80 is exact (the test above),
    # one of 64 is not.
    def short_plan(*args):
        plan = plan_tiles(*args)
        return replace(plan, halo=plan.halo - plan.grid)

    monkeypatch.setattr("nst.backends.torch.backend.plan_tiles", short_plan)
    (terms, gradient), (tiled_terms, tiled_gradient) = problem("torch", "gram", 32)
    assert abs(tiled_terms["content"] - terms["content"]) > 1e-4 * terms["content"]  # relu5_2's
    assert np.abs(tiled_gradient - gradient).max() > 1e-3 * np.abs(gradient).max()


def test_tiled_statistics_equal_the_whole_images(backend_name):
    backend = get_backend(backend_name)
    net = backend.load_network(random_params(TINY), TINY, TORCHVISION, DEEP, "max", "cpu")
    image = smooth_image(61, 90, 3)
    whole, tiled = net.statistics(image), net.statistics(image, tile=16)
    expected = statistics_of(net.features(image))
    for layer in DEEP:
        assert tiled.mean_square[layer] == pytest.approx(expected.mean_square[layer], rel=1e-5)
        np.testing.assert_allclose(tiled.gram[layer], whole.gram[layer], rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def offline_vgg16():
    from nst.weights import load_weights

    return load_weights("vgg16-offline", progress=False)


def test_tiled_equals_whole_on_the_offline_vgg16(backend_name, offline_vgg16):
    # The real network: halos of 80 px around cores of 48 px, 2 x 3 tiles over 90 x 120 px.
    backend = get_backend(backend_name)
    cfg = make_config(normalization="mse", tv_weight=1.0)
    spec = cfg.loss_spec(1)
    net = backend.load_network(
        offline_vgg16.params, VGG16, offline_vgg16.preprocess, spec.layers, "max", "cpu"
    )
    content, style, image = smooth_image(90, 120, 1), smooth_image(100, 80, 2), smooth_image(90, 120, 3)
    results = []
    for tile in (None, 48):
        targets = backend.prepare_targets(net, content, [style], spec, tile=tile)
        results.append(
            (
                backend.loss_terms(net, targets, image, spec, tile=tile),
                backend.loss_gradient(net, targets, image, spec, tile=tile),
            )
        )
    assert isinstance(net.tile_plan(image.shape, 48), TilePlan)
    assert_equal_up_to_rounding(*results)


def tiny_run(tmp_path, backend_name, tile, log=None, **options) -> tuple[np.ndarray, np.ndarray]:
    """(the starting image, the result) of a run on the tiny VGG, one scale of 96 x 72 px."""
    options = {"size": 96, "iterations": 6, **options}
    cfg = make_config(weights=str(tiny_weights_file(tmp_path)), tile=tile, **options)
    transfer = StyleTransfer(cfg, backend_name, log=log).prepare(
        smooth_image(72, 96, 1), [smooth_image(80, 64, 2)]
    )
    start = transfer.initial_image()
    return start, transfer.run().image


def tiled_evaluations(monkeypatch, backend_name) -> list[int]:
    """A list that receives the tile count of each tiled evaluation the backend's optimiser
    runs: torch's per loss and gradient, JAX's per compiled chunk of steps."""
    counts: list[int] = []
    if backend_name == "torch":
        from nst.backends.torch.tiled import TiledEvaluation

        evaluate = TiledEvaluation.terms

        def recording(self, *args, **kwargs):
            counts.append(self.plan.count)
            return evaluate(self, *args, **kwargs)

        monkeypatch.setattr(TiledEvaluation, "terms", recording)
    else:
        from nst.backends.jax import optim

        class RecordingChunks:
            """``optim._run_chunk`` that notes the tile plan, its fourth static argument."""

            def __init__(self, jitted):
                self.jitted = jitted

            def lower(self, *args):
                return self.jitted.lower(*args)

            def __call__(self, *args):
                if args[3] is not None:
                    counts.append(args[3].count)
                return self.jitted(*args)

        monkeypatch.setattr(optim, "_run_chunk", RecordingChunks(optim._run_chunk))
    return counts


@pytest.mark.parametrize("optimizer, tolerance", [("adam", 1e-5), ("lbfgs", 1e-3)])
def test_a_tiled_run_follows_the_whole_images_iterates(
    tmp_path, monkeypatch, backend_name, optimizer, tolerance
):
    # Relative terms, TV and recolored init: the driver's whole path. Adam follows the whole
    # image's iterates to rounding; L-BFGS's line search can take another of two nearly equal
    # trial steps on a rounding difference, so its pixels agree on average.
    start, whole = tiny_run(tmp_path, backend_name, "off", optimizer=optimizer)
    counts = tiled_evaluations(monkeypatch, backend_name)
    _, tiled = tiny_run(tmp_path, backend_name, "32", optimizer=optimizer)
    # The tiled run evaluated 96 x 72 px in tiles of 32: 3 x 3 of them.
    assert counts and set(counts) == {9}
    assert np.abs(tiled - whole).mean() < tolerance
    # The agreement means something: the run moved far from where it started.
    moved = float(np.abs(tiled - start).mean())
    assert moved > 10 * tolerance


def test_auto_tiles_a_run_that_does_not_fit_whole_and_says_so(tmp_path, monkeypatch, backend_name):
    # A machine where the whole image's estimate (over 0.9 GiB) does not fit and a tiled run's does.
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: memory.GIB // 2)
    monkeypatch.setattr(memory, "tiled_peak_bytes", lambda *args: memory.GIB // 4)
    lines = []
    tiny_run(tmp_path, backend_name, "auto", log=lines.append, iterations=1, size=400)
    said = [line for line in lines if "does not fit in memory whole" in line]
    # Coarse to fine: 283 and 400 px, each scale tiled (in one tile each here).
    assert len(said) == 2 and "400x300 px" in said[-1] and "tiles of 400 px, 1 x 1" in said[-1]


def tiles_of_an_eighth_gib_beside_the_pairs(monkeypatch) -> int:
    """A tiled run's estimate made 1/8 GiB for any tile plus L-BFGS's image-sized pairs;
    returns the bytes per pixel of one pair."""
    pair_bytes = memory.LBFGS_BYTES_PER_PIXEL_PER_PAIR
    monkeypatch.setattr(
        memory,
        "tiled_peak_bytes",
        lambda backend, pixels, side, optimizer, history, *rest: (
            memory.GIB // 8 + history * pair_bytes * pixels
        ),
    )
    return pair_bytes


def test_auto_shortens_the_lbfgs_history_where_no_tile_leaves_room_for_it(tmp_path, monkeypatch):
    # Tiles of any size take 1/8 GiB here, and each L-BFGS pair its image-sized two arrays: on
    # a 1/4 GiB machine the 283 px scale keeps its 50 pairs, the 400 px one keeps what fits.
    from nst.backends.torch import optim

    pair_bytes = tiles_of_an_eighth_gib_beside_the_pairs(monkeypatch)
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: memory.GIB // 4)
    histories = []
    original = optim.TorchOptimization.__init__

    def recording(self, net, targets, init, spec, settings, *rest):
        histories.append(settings.lbfgs_history)
        original(self, net, targets, init, spec, settings, *rest)

    monkeypatch.setattr(optim.TorchOptimization, "__init__", recording)
    lines = []
    tiny_run(tmp_path, "torch", "auto", log=lines.append, iterations=1, size=400)
    budget = MEMORY_SHARE * (memory.GIB // 4)
    fitting = int((budget - memory.GIB // 8) // (pair_bytes * 400 * 300))
    full = make_config().lbfgs_history
    assert histories == [full, fitting] and MIN_AUTO_LBFGS_HISTORY <= fitting < full
    said = [line for line in lines if "does not fit in memory whole" in line]
    assert f"L-BFGS history shortened to {fitting} pairs" in said[-1]
    assert "history" not in said[0]


def test_a_forced_tile_still_keeps_lbfgs_within_memory(tmp_path, monkeypatch):
    # --tile N picks the tile; where the run with it would not fit, the history shrinks as
    # under 'auto', and where not even MIN_AUTO_LBFGS_HISTORY pairs fit, the run is refused.
    tiles_of_an_eighth_gib_beside_the_pairs(monkeypatch)
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: memory.GIB // 4)
    lines = []
    tiny_run(tmp_path, "torch", "32", log=lines.append, iterations=1, size=400)
    said = [line for line in lines if "does not fit in memory whole" in line]
    assert len(said) == 1 and "tiles of 32 px" in said[0] and "L-BFGS history shortened" in said[0]
    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: memory.GIB // 6)
    with pytest.raises(NstError, match="even in tiles of 32 px"):
        tiny_run(tmp_path, "torch", "32", iterations=1, size=400)
