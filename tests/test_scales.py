"""Coarse to fine: the schedule of sizes, and runs that carry each scale's result to the next."""

from __future__ import annotations

import numpy as np
import pytest

from nst.arch import TINY, TORCHVISION, random_params
from nst.engine import chunk_sizes
from nst.errors import NstError
from nst.events import Stopped
from nst.options.config import make_config
from nst.scales import scale_iterations, scale_sizes
from nst.stylize import StyleTransfer
from tests.helpers import cli_files
from tests.test_cli import assert_one_line_error, run_cli, stylize_args


@pytest.fixture
def files(tmp_path):
    return cli_files(tmp_path)


@pytest.mark.parametrize(
    "size, scales, expected",
    [
        (512, 0, (256, 362, 512)),
        (361, 0, (361,)),
        (362, 0, (256, 362)),
        (510, 0, (361, 510)),  # two steps down would be 255 px
        (1024, 0, (256, 362, 512, 724, 1024)),  # the coarsest near 256 px at any size
        (2048, 0, (256, 362, 512, 724, 1024, 1448, 2048)),
        (512, 3, (256, 362, 512)),
        (128, 0, (128,)),
        (200, 2, (141, 200)),
        (512, 1, (512,)),
    ],
)
def test_scale_sizes_step_by_sqrt2_up_to_size(size, scales, expected):
    assert scale_sizes(size, scales) == expected


def test_auto_is_coarse_to_fine_from_any_start_and_the_mse_preset_one_scale():
    for init in ("recolored", "content", "noise", "style"):
        assert make_config(size=512, init=init).scale_sizes == (256, 362, 512)
    assert make_config("mse", size=512).scale_sizes == (512,)
    assert make_config(size=512, scales=1).scale_sizes == (512,)  # asked for: kept


def test_the_coarsest_scale_takes_iterations_and_each_finer_one_half_as_many():
    assert scale_iterations(100, None, 3) == (100, 50, 25)
    assert scale_iterations(7, None, 1) == (7,)
    assert scale_iterations(3, None, 4) == (3, 2, 1, 1)  # rounded up, at least one step
    assert make_config(size=512, iterations=50).steps_per_scale == (50, 25, 13)
    assert make_config(size=512).steps_per_scale == (300, 150, 75)


def test_a_single_scale_run_gets_the_coarsest_scales_budget():
    single, multi = make_config(size=256), make_config(size=512)
    assert single.scale_sizes == (256,) and single.steps_per_scale == multi.steps_per_scale[:1]
    assert scale_iterations(50, (30, 20, 10), 3) == (30, 20, 10)
    with pytest.raises(NstError, match="3 scales"):
        scale_iterations(50, (30, 20), 3)


def test_chunks_across_scales_stop_on_multiples_of_print_every():
    assert list(chunk_sizes(7, 5, 0, offset=3)) == [2, 5]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--scales", "-1"], "--scales"),
        (["--scales", "2", "--scale-iterations", "3,3,3"], "--scale-iterations"),
        (["--scales", "2", "--scale-iterations", "3,0"], "--scale-iterations"),
        (["--scale-iterations", "2.5"], "2.5"),
    ],
)
def test_bad_scale_options_are_one_line_and_exit_2(files, capsys, extra, fragment):
    code, _, err = run_cli(stylize_args(files, *extra), capsys)
    assert_one_line_error(code, err, fragment)


class TinyWeights:
    params, arch, preprocess = random_params(TINY, seed=0), TINY, TORCHVISION
    name, description, preprocessing = "tiny", "tiny random VGG", "torchvision"


def smooth(height, width, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([x, y, 1 - x * y], -1) + 0.2 * rng.standard_normal((height, width, 3))
    return np.clip(image, 0, 1).astype(np.float32)


def transfer(backend, **options):
    cfg = make_config("mse", init="noise", print_every=1, device="cpu", style_weight=1e3, **options)
    return StyleTransfer(cfg, backend, weights=TinyWeights()).prepare(smooth(48, 64, 1), [smooth(56, 56, 2)])


def test_each_scale_starts_from_the_last_result_upsampled(backend_name):
    """Two scales (45 then 64 px): steps and sizes in order, and the fine scale starts far
    below where a single-scale run from noise starts, because it inherits the coarse result."""
    seen = []
    multi = transfer(backend_name, size=64, scales=2, scale_iterations=(6, 3))
    result = multi.run(lambda progress: seen.append((progress.step, progress.total)))
    assert [entry["size"] for entry in result.history] == [45] * 6 + [64] * 3
    assert seen == [(step, 9) for step in range(1, 10)]
    assert result.image.shape == (48, 64, 3) and result.stopped is Stopped.COMPLETED

    single = transfer(backend_name, size=64, scales=1, iterations=1)
    from_noise = single.run().history[0]["total"]
    assert result.history[6]["total"] < 0.5 * from_noise


def test_a_second_run_starts_again_at_the_coarsest_scale(backend_name):
    multi = transfer(backend_name, size=64, scales=2, iterations=2)
    first, second = multi.run(), multi.run()
    assert [e["size"] for e in second.history] == [e["size"] for e in first.history] == [45, 45, 64]
    np.testing.assert_array_equal(first.image, second.image)


def test_luminance_colours_survive_the_scales(backend_name):
    from nst.color import rgb_to_yiq

    multi = transfer(backend_name, size=64, scales=2, iterations=2, colors="luminance")
    result = multi.run()
    content_iq = rgb_to_yiq(multi.scale.content)[..., 1:]
    np.testing.assert_allclose(rgb_to_yiq(result.image)[..., 1:], content_iq, atol=1e-5)
