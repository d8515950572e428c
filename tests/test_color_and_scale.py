"""--colors and --style-scale through the driver, on both backends, with the tiny random VGG."""

from __future__ import annotations

import numpy as np
import pytest

from nst import color
from nst import image as img
from nst.backend import get_backend
from nst.errors import NstError
from nst.events import Stopped
from nst.options.config import make_config
from nst.stylize import StyleTransfer
from tests.helpers import tiny_weights_file, write_image

SIZE = 48


@pytest.fixture
def content(tmp_path):
    return img.load_image(write_image(tmp_path / "content.png", 40, 56, seed=1))


@pytest.fixture
def red_style():
    """A reddish texture, far from the content's colours."""
    noise = np.random.default_rng(7).random((64, 64, 3), dtype=np.float32)
    return (np.array([0.5, 0.05, 0.1]) + noise * np.array([0.5, 0.3, 0.2])).astype(np.float32)


def transfer_for(tmp_path, backend_name, monkeypatch, **options):
    """A StyleTransfer whose backend records the images prepare_targets receives."""
    backend = get_backend(backend_name)
    seen = {}
    prepare_targets = backend.prepare_targets

    def spy(net, content, styles, spec, guides=None, temporal=None, tile=None):
        seen.update(content=content, styles=list(styles))
        return prepare_targets(net, content, styles, spec, guides, temporal, tile)

    monkeypatch.setattr(backend, "prepare_targets", spy)
    cfg = make_config(
        size=SIZE,
        iterations=4,
        print_every=2,
        device="cpu",
        weights=str(tiny_weights_file(tmp_path)),
        **options,
    )
    return StyleTransfer(cfg, backend), seen


def grams(targets) -> dict[str, np.ndarray]:
    return {
        layer: np.asarray(value.cpu() if hasattr(value, "cpu") else value)
        for layer, value in targets.grams.items()
    }


# ------------------------------------------------------------------------------ style scale


def test_style_scale_sets_the_style_size_and_changes_the_gram_targets(
    tmp_path, backend_name, monkeypatch, content, red_style
):
    targets = {}
    for scale, side in ((1.0, SIZE), (0.5, SIZE // 2), (2.0, 2 * SIZE)):
        transfer, seen = transfer_for(tmp_path, backend_name, monkeypatch, style_scale=scale)
        transfer.prepare(content, [red_style])
        assert seen["styles"][0].shape == (side, side, 3)  # the style is square
        assert seen["content"].shape == (34, SIZE, 3)  # the content is not rescaled
        targets[scale] = grams(transfer.scale.targets)
    for scale in (0.5, 2.0):
        for layer, full in targets[1.0].items():
            difference = np.abs(targets[scale][layer] - full).max()
            assert difference > 1e-3 * np.abs(full).max(), (scale, layer)


def test_too_small_a_style_scale_is_refused(tmp_path, backend_name, monkeypatch, content, red_style):
    transfer, _ = transfer_for(tmp_path, backend_name, monkeypatch, style_scale=0.2)
    with pytest.raises(NstError, match=r"style image .* 10x10 px.*--style-scale"):
        transfer.prepare(content, [red_style])


# ------------------------------------------------------------------------------------ colours


def test_luminance_output_has_the_content_chrominance(
    tmp_path, backend_name, monkeypatch, content, red_style
):
    transfer, seen = transfer_for(tmp_path, backend_name, monkeypatch, colors="luminance")
    transfer.prepare(content, [red_style])
    for grey in (seen["content"], *seen["styles"]):
        np.testing.assert_allclose(color.rgb_to_yiq(grey)[..., 1:], 0.0, atol=1e-6)
    snapshots = []
    result = transfer.run(lambda progress: snapshots.append(progress.image()))
    expected_iq = color.rgb_to_yiq(img.resize_longest(content, SIZE))[..., 1:]
    assert len(snapshots) == 2
    for image in (*snapshots, result.image):
        np.testing.assert_allclose(color.rgb_to_yiq(image)[..., 1:], expected_iq, atol=1e-5)
    # ...and the luminance is the optimised one: it moved away from the content's.
    assert np.abs(color.luminance(result.image) - seen["content"][..., 0]).max() > 1e-3


def test_histogram_style_target_has_the_content_mean_colour(
    tmp_path, backend_name, monkeypatch, content, red_style
):
    content_mean = img.resize_longest(content, SIZE).reshape(-1, 3).mean(0)
    assert np.abs(red_style.reshape(-1, 3).mean(0) - content_mean).max() > 0.1
    second_style = red_style[::-1, :, ::-1]  # blue: a second style, blended
    transfer, seen = transfer_for(
        tmp_path, backend_name, monkeypatch, colors="histogram", style_blend=(0.3, 0.7)
    )
    transfer.prepare(content, [red_style, second_style])
    np.testing.assert_array_equal(seen["content"], img.resize_longest(content, SIZE))
    assert len(seen["styles"]) == 2
    for style in seen["styles"]:
        np.testing.assert_allclose(style.reshape(-1, 3).mean(0), content_mean, atol=0.01)
    assert transfer.run().stopped is Stopped.COMPLETED


def test_default_colors_hand_the_style_over_unchanged(
    tmp_path, backend_name, monkeypatch, content, red_style
):
    transfer, seen = transfer_for(tmp_path, backend_name, monkeypatch)
    transfer.prepare(content, [red_style])
    np.testing.assert_array_equal(seen["styles"][0], img.resize_longest(red_style, SIZE))
