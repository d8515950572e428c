"""bench.gallery: the contact sheet from tiny generated images and the tiny random VGG (the
paper's images are not needed), and the script's refusals."""

from __future__ import annotations

import numpy as np
import pytest

from bench import gallery
from nst import image as img
from tests.helpers import tiny_weights_file, write_image

CELL = 32


def test_sheet_has_every_cell_and_the_colour_modes_differ(tmp_path):
    # One backend: this checks the sheet; tests/test_color_and_scale.py checks both backends'
    # colour modes, and JAX would recompile for each of the 8 settings.
    pytest.importorskip("torch")
    content = img.load_image(write_image(tmp_path / "content.png", 40, 56, seed=1))
    styles = {
        name: img.load_image(write_image(tmp_path / f"{name}.png", 48, 48, seed=seed))
        for seed, name in enumerate(("a", "b", "c"), start=2)
    }
    renders = []
    sheet = gallery.build_sheet(
        content,
        styles,
        figure_styles=("a", "b", "c"),
        sweep_style="b",
        weights=str(tiny_weights_file(tmp_path)),
        size=CELL,
        iterations=2,
        backend="torch",
        device="cpu",
        log=renders.append,
    )

    # 3 Figure 2 styles + 4 ratios + 3 colour modes, of which 1 is the default-setting render.
    assert len(renders) == 9
    _, _, right, bottom = gallery.cell_box(2, 3, CELL)
    assert sheet.size == (right + gallery.MARGIN, bottom + gallery.CAPTION_HEIGHT + gallery.MARGIN)
    pixels = np.asarray(sheet, dtype=np.float32) / 255

    def cell(row, column):
        left, top, right, bottom = gallery.cell_box(row, column, CELL)
        return pixels[top:bottom, left:right]

    for row in range(3):
        for column in range(4):
            assert (cell(row, column) < 0.99).any(axis=-1).mean() > 0.5, (row, column)
            # Pictures sit on the square's bottom edge, right above their captions.
            assert (cell(row, column)[-1] < 0.99).any(axis=-1).mean() > 0.5, (row, column)
    # Row 3 is painting, style, luminance, histogram: three different renders.
    assert np.abs(cell(2, 1) - cell(2, 2)).mean() > 1e-3
    assert np.abs(cell(2, 2) - cell(2, 3)).mean() > 1e-3
    # The colour row's "style" cell is the Figure 2 render of style b, reused (the tiny random
    # VGG's ratios say nothing about looks).
    np.testing.assert_array_equal(cell(2, 1), cell(0, 2))


def test_missing_images_folder_is_one_line_and_exit_2(tmp_path, capsys):
    code = gallery.main(["--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "nowhere" in err and "Traceback" not in err


def test_refuses_to_write_into_the_repository(tmp_path, capsys):
    code = gallery.main(["--out", str(gallery.REPOSITORY / "gallery-out"), "--images", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "inside the repository" in err
    assert not (gallery.REPOSITORY / "gallery-out").exists()
