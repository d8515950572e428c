"""Spatial control: guides pooled onto each layer's grid, guided Grams on both backends equal to
the numpy oracle, and masks that confine a style to their region."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst import image as img
from nst import reference
from nst.arch import TINY, TORCHVISION, random_params
from nst.backend import get_backend
from nst.errors import NstError
from nst.masks import build_guides, load_masks, pooled
from nst.options.config import make_config
from tests.helpers import cli_files, smooth_image
from tests.test_cli import assert_one_line_error, run_cli, stylize_args
from tests.test_parity import to_numpy

HEIGHT, WIDTH = 45, 61


def half_mask(height=HEIGHT, width=WIDTH, left=True) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    if left:
        mask[:, : width // 2] = 1
    else:
        mask[:, width // 2 :] = 1
    return mask


def test_pooling_floors_odd_sides_like_the_network():
    guide = np.arange(35, dtype=np.float32).reshape(5, 7)
    assert pooled(guide, 1).shape == (2, 3)
    assert pooled(guide, 1)[0, 0] == np.mean([0, 1, 7, 8])
    assert pooled(guide, 2).shape == (1, 1)


def test_one_mask_for_two_styles_gives_the_second_the_rest():
    mask = half_mask()
    first, second = load_masks([mask[..., None].repeat(3, -1)], 2, "--mask", complement=True)
    np.testing.assert_allclose(first + second, 1, atol=1e-6)
    with pytest.raises(NstError, match="1 masks for 3 style images"):
        load_masks([mask], 3, "--mask", complement=True)


def test_a_black_mask_is_refused():
    with pytest.raises(NstError, match="black everywhere"):
        build_guides(
            [np.zeros((8, 8), np.float32)], None, (8, 8), [np.ones((8, 8, 3))], TINY, ["relu1_1"], [1.0]
        )


def network_and_images(backend_name):
    backend = get_backend(backend_name)
    content, image, *styles = (smooth_image(HEIGHT, WIDTH, seed) for seed in range(5, 9))
    return backend, content, image, styles


@pytest.mark.parametrize("normalization", ["mse", "paper"])
def test_guided_loss_and_targets_match_the_oracle(backend_name, normalization):
    backend, content, image, styles = network_and_images(backend_name)
    spec = make_config(normalization=normalization, style_blend=(0.3, 0.7), tv_weight=1.0).loss_spec(2)
    net = backend.load_network(random_params(TINY, seed=3), TINY, TORCHVISION, spec.layers, "max", "cpu")
    style_layers = [l for l, _ in spec.style]
    guides = build_guides(
        [half_mask(), half_mask(left=False) * 0.5 + 0.25],
        [half_mask(left=False), np.ones((HEIGHT, WIDTH), np.float32)],
        (HEIGHT, WIDTH),
        styles,
        TINY,
        style_layers,
        spec.style_blend,
    )
    targets = backend.prepare_targets(net, content, styles, spec, guides)
    expected_grams = reference.guided_targets([net.features(s) for s in styles], guides, spec)
    for layer in style_layers:
        got = to_numpy(targets.grams[layer])
        assert np.max(np.abs(got - expected_grams[layer])) <= 1e-5 * np.max(np.abs(expected_grams[layer]))
    expected = reference.loss_terms(
        net.features(image), net.features(content), expected_grams, image, spec, guides
    )
    terms = backend.loss_terms(net, targets, image, spec)
    for term in ("content", "style", "tv", "total"):
        assert terms[term] == pytest.approx(expected[term], rel=1e-5), term


def test_an_all_white_mask_is_the_plain_gram_loss(backend_name):
    backend, content, image, styles = network_and_images(backend_name)
    spec = make_config("mse").loss_spec(1)
    net = backend.load_network(random_params(TINY, seed=3), TINY, TORCHVISION, spec.layers, "max", "cpu")
    white = np.ones((HEIGHT, WIDTH), np.float32)
    guides = build_guides(
        [white], None, (HEIGHT, WIDTH), styles[:1], TINY, [l for l, _ in spec.style], spec.style_blend
    )
    guided = backend.loss_terms(
        net, backend.prepare_targets(net, content, styles[:1], spec, guides), image, spec
    )
    plain = backend.loss_terms(net, backend.prepare_targets(net, content, styles[:1], spec), image, spec)
    assert guided["style"] == pytest.approx(plain["style"], rel=1e-5)


def test_a_mask_confines_the_style_to_its_region(backend_name):
    """Style from relu1_1 only (a 3x3 receptive field) and no content loss: the gradient is
    zero wherever the mask's region cannot be seen, and not zero inside it."""
    backend, content, image, styles = network_and_images(backend_name)
    spec = make_config("mse", style_layers=("relu1_1",), content_weight=0.0).loss_spec(1)
    net = backend.load_network(random_params(TINY, seed=3), TINY, TORCHVISION, spec.layers, "max", "cpu")
    guides = build_guides([half_mask()], None, (HEIGHT, WIDTH), styles[:1], TINY, ["relu1_1"], (1.0,))
    targets = backend.prepare_targets(net, content, styles[:1], spec, guides)
    gradient = np.abs(backend.loss_gradient(net, targets, image, spec)).sum(-1)
    assert (gradient[:, : WIDTH // 2 - 1] > 0).mean() > 0.9
    assert gradient[:, WIDTH // 2 + 1 :].max() == 0


@pytest.fixture
def files(tmp_path):
    return cli_files(tmp_path)


RED, BLUE = (230, 30, 30), (30, 30, 230)


def save(path, pixels: np.ndarray):
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def save_half_mask(path, height, width, left=True):
    return save(path, half_mask(height, width, left) * 255)


def red_minus_blue(image: np.ndarray) -> float:
    """How far ``image`` leans to red (> 0) or to blue (< 0)."""
    return float((image[..., 0] - image[..., 2]).mean())


def run_colour_styles(files, capsys, backend_name, *styles_and_masks):
    """A grey content, styled from shallow layers only and without content loss, so the
    output takes the colours its style regions ask for; (its left half's lean, its right's)."""
    tmp, _, _, weights = files
    noise = np.random.default_rng(0).standard_normal((40, 56, 3))
    grey = save(tmp / "grey.png", np.clip(128 + 20 * noise, 0, 255))
    code, _, err = run_cli(
        ["stylize", grey, *styles_and_masks, "-o", tmp / "out.png", "--weights", weights, "--size", 48,
         "--iterations", 20, "--backend", backend_name, "--init", "content", "--content-weight", 0,
         "--style-layers", "relu1_1,relu2_1", "--content-layers", "relu2_1"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    out = img.load_image(tmp / "out.png")
    middle = out.shape[1] // 2
    return red_minus_blue(out[:, :middle]), red_minus_blue(out[:, middle:])


def test_a_mask_of_another_size_puts_each_style_in_its_half(files, capsys, backend_name):
    tmp = files[0]
    red = save(tmp / "red.png", np.full((48, 48, 3), RED))
    blue = save(tmp / "blue.png", np.full((48, 48, 3), BLUE))
    mask = save_half_mask(tmp / "mask.png", 20, 30)  # the output is 34 x 48 px: resized to it
    # The left half for the red style; the second style, blue, takes the rest.
    left, right = run_colour_styles(files, capsys, backend_name, red, blue, "--mask", mask)
    assert left > 0.05 and right < -0.2, (left, right)


def test_a_style_mask_takes_the_style_from_its_region(files, capsys, backend_name):
    tmp = files[0]
    red_and_blue = np.concatenate([np.full((48, 24, 3), RED), np.full((48, 24, 3), BLUE)], axis=1)
    style = save(tmp / "red-and-blue.png", red_and_blue)
    leans = {}
    for half in ("left", "right"):
        mask = save_half_mask(tmp / f"{half}.png", 30, 20, left=half == "left")  # resized to 48 x 48
        leans[half] = run_colour_styles(files, capsys, backend_name, style, "--style-mask", mask)
    assert min(leans["left"]) > 0.03 and max(leans["right"]) < -0.2, leans


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (lambda t: ["--mask", f"{t / 'content.png'},{t / 'style.png'}"], ["--mask", "2 masks for 1 style"]),
        (lambda t: ["--mask", t / "notes.txt"], ["notes.txt"]),
        (lambda t: ["--style-mask", t / "missing.png"], ["missing.png"]),
        (lambda t: ["--mask", t / "content.png", "--style-loss", "meancov"], ["--style-loss gram"]),
    ],
)
def test_bad_masks_are_one_line_and_exit_2(files, capsys, extra, fragments):
    tmp = files[0]
    (tmp / "notes.txt").write_text("not an image")
    code, _, err = run_cli(stylize_args(files, *extra(tmp)), capsys)
    assert_one_line_error(code, err, *fragments)
