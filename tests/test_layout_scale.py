"""The coarsest of several scales lays the picture out with style blocks 1-3 only, at twice
beta."""

from __future__ import annotations

import pytest

from nst.options.config import LAYOUT_STYLE_GAIN, make_config
from nst.stylize import StyleTransfer
from tests.helpers import smooth_image, tiny_weights_file

DEEP = ("relu4_1", "relu5_1")


def test_the_layout_scale_drops_blocks_4_and_5_and_the_finer_scales_keep_them():
    cfg = make_config(size=512)
    layout, finer, last = (dict(cfg.style_terms(size)) for size in cfg.scale_sizes)
    assert [layout[layer] for layer in DEEP] == [0.0, 0.0]
    assert sum(layout.values()) == pytest.approx(LAYOUT_STYLE_GAIN * cfg.style_weight)
    assert layout["relu1_1"] == layout["relu2_1"] == layout["relu3_1"]
    assert finer == last == dict(cfg.loss_spec().style)
    assert all(finer[layer] > 0 for layer in DEEP)


@pytest.mark.parametrize(
    "options",
    [
        {"size": 256},  # one scale: nothing to lay out before
        {"size": 512, "style_layer_weights": (1.0,) * 5},  # asked for: held at every scale
        {"size": 512, "style_layers": DEEP},  # no shallower block to carry the style
        {"size": 512, "normalization": "mse"},
    ],
)
def test_the_layout_scale_keeps_the_weights_where_it_has_no_choice(options):
    cfg = make_config(**options)
    assert cfg.style_terms(cfg.scale_sizes[0]) == cfg.loss_spec().style


def test_a_run_resolves_its_coarse_scale_without_the_deep_blocks(tmp_path, backend_name):
    cfg = make_config(size=64, scales=2, iterations=1, weights=str(tiny_weights_file(tmp_path)))
    transfer = StyleTransfer(cfg, backend_name).prepare(smooth_image(48, 64, 1), [smooth_image(48, 48, 2)])
    coarse, fine = (dict(transfer.problem.at(plan).spec.style) for plan in transfer.plan.scales)
    assert [coarse[layer] for layer in DEEP] == [0.0, 0.0]
    assert all(fine[layer] > 0 for layer in DEEP)
    assert transfer.run().image.shape == (48, 64, 3)
