"""--scale-detail: moving up a scale adds back the photo's detail that the coarser size lost."""

from __future__ import annotations

import numpy as np
import pytest

from nst import image as img
from nst.options.config import make_config
from nst.stylize import StyleTransfer
from tests.helpers import SHALLOW, cli_files, smooth_image, tiny_weights_file
from tests.test_cli import assert_one_line_error, run_cli, stylize_args


def thin_line_photo() -> np.ndarray:
    """A light photo crossed by one dark line a pixel wide, which a 45 px copy cannot hold."""
    photo = np.full((48, 64, 3), 0.8, np.float32)
    photo[:, 31] = 0.1
    return photo


def problem_at_two_scales(tmp_path, backend_name, share: float):
    cfg = make_config(
        size=64,
        scales=2,
        iterations=1,
        scale_detail=share,
        weights=str(tiny_weights_file(tmp_path)),
        **SHALLOW,
    )
    transfer = StyleTransfer(cfg, backend_name).prepare(thin_line_photo(), [smooth_image(48, 48, 2)])
    coarse, fine = (transfer.problem.at(plan) for plan in transfer.plan.scales)
    return transfer.problem, coarse, fine


def test_the_photo_taken_down_a_scale_comes_back_up_as_the_photo(tmp_path, backend_name):
    problem, coarse, fine = problem_at_two_scales(tmp_path, backend_name, 1.0)
    photo = problem.recolored_photo(fine)
    up = problem.upsampled(img.resize_to(photo, *coarse.content.shape[:2]), fine)
    assert up.shape == fine.content.shape
    np.testing.assert_allclose(up, photo, atol=1e-5)


def test_a_thin_line_lost_at_the_coarse_scale_comes_back_with_the_share(tmp_path, backend_name):
    def line_contrast(image):
        columns = image[:, 28:35].mean(axis=(0, 2))
        return columns.max() - columns.min()

    contrasts = {}
    for share in (0.0, 0.5, 1.0):
        problem, coarse, fine = problem_at_two_scales(tmp_path, backend_name, share)
        photo = problem.recolored_photo(fine)
        coarse_photo = img.resize_to(photo, *coarse.content.shape[:2])
        contrasts[share] = line_contrast(problem.upsampled(coarse_photo, fine))
    photo = line_contrast(photo)
    assert contrasts[0.0] < 0.75 * photo  # blurred by the round trip through 45 px
    assert contrasts[0.0] < contrasts[0.5] < contrasts[1.0] == pytest.approx(photo, abs=1e-4)


def test_a_share_outside_0_to_1_is_one_line_and_exit_2(tmp_path, capsys):
    files = cli_files(tmp_path)
    for share in ("-0.5", "1.5"):
        code, _, err = run_cli(stylize_args(files, "--scale-detail", share), capsys)
        assert_one_line_error(code, err, "--scale-detail")
