"""Config validation, presets and the resolved loss spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from nst.errors import NstError
from nst.options.config import PRESETS, Config, make_config
from nst.stylize import StyleTransfer
from tests.helpers import cli_files


def test_layer_weights_default_equal_and_sum_to_one_times_overall():
    spec = make_config(style_weight=10.0, normalization="mse").loss_spec()
    weights = [w for _, w in spec.style]
    assert len(weights) == 5 and all(w == pytest.approx(2.0) for w in weights)
    assert spec.content == (("relu3_2", 1.0), ("relu4_2", 1.0), ("relu5_2", 1.0))  # alpha 3 over 3 layers


def test_explicit_layer_weights_are_normalised():
    spec = make_config(
        style_layers=("relu1_1", "relu2_1"), style_layer_weights=(1.0, 3.0), style_weight=4.0
    ).loss_spec()
    assert spec.style == (("relu1_1", 1.0), ("relu2_1", 3.0))


def test_blend_is_normalised_and_must_match_styles():
    assert make_config(style_blend=(1.0, 3.0)).loss_spec(2).style_blend == (0.25, 0.75)
    with pytest.raises(NstError, match="2 weights for 3"):
        make_config(style_blend=(1.0, 3.0)).loss_spec(3)


def test_spec_layers_are_unique_in_order():
    spec = make_config(content_layers=("relu1_1",)).loss_spec()
    assert spec.layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@pytest.mark.parametrize(
    "overrides",
    [
        {"size": 0},
        {"iterations": -1},
        {"style_weight": -1.0},
        {"content_weight": float("nan")},
        {"lr": 0.0},
        {"optimizer": "sgd"},
        {"pooling": "min"},
        {"normalization": "l1"},
        {"style_layer_weights": (1.0,)},
        {"save_every": -5},
        {"seed": -1},
        {"style_blend": (-1.0,)},
        {"content_layers": (), "style_layers": ()},
        {"style_scale": 0.0},
        {"style_scale": -1.0},
        {"style_scale": float("inf")},
        {"colors": "sepia"},
        {"style_loss": "moments"},
        {"ema": 1.0},
        {"ema": -0.5},
        {"ema": float("inf")},
        {"adam_beta2": 1.0},
        {"adam_beta2": -0.1},
        {"adam_beta2": float("nan")},
        # Wrong types, as the library's keyword arguments can bring them.
        {"size": "big"},
        {"size": 32.5},
        {"iterations": True},
        {"seed": 1.5},
        {"content_layers": "relu4_2"},
        {"style_blend": (1.0, "a")},
        {"normalize_network": 1},
        {"mask": "mask.png"},
        {"style_weight": "1e6"},
    ],
)
def test_invalid_values_are_refused(overrides):
    with pytest.raises(NstError):
        make_config(**overrides)


def test_presets():
    paper = make_config("gatys2016")
    assert (paper.init, paper.optimizer, paper.pooling, paper.normalization) == (
        "noise",
        "lbfgs",
        "avg",
        "paper",
    )
    assert paper.content_weight / paper.style_weight == pytest.approx(1e-3)
    assert make_config("default") == Config()
    assert make_config("gatys2016", pooling="max").pooling == "max"
    assert set(PRESETS) >= {"default", "gatys2016"}
    with pytest.raises(NstError, match="unknown preset"):
        make_config("nope")
    with pytest.raises(NstError, match="unknown option"):
        make_config(colour="blue")


def test_default_step_sizes():
    assert make_config().step_size == 1.0
    assert make_config(optimizer="adam").step_size == 0.02
    assert make_config(optimizer="adam", lr=0.5).step_size == 0.5


def test_library_arguments_of_related_types_are_taken():
    import numpy as np

    cfg = make_config(
        size=np.int64(64),
        style_weight=10,
        content_layers=["relu4_2"],
        init=Path("start.png"),
        scale_iterations=[3, 5],
        scales=2,
    )
    assert cfg == make_config(
        size=64,
        style_weight=10.0,
        content_layers=("relu4_2",),
        init=Path("start.png"),
        scale_iterations=(3, 5),
        scales=2,
    )
    assert type(cfg.size) is int and type(cfg.style_weight) is float
    hash(cfg)  # lists became tuples: the config stays hashable


@pytest.mark.parametrize("styles, message", [([], "no style image"), ("style.png", "a list")])
def test_prepare_refuses_no_styles_or_a_bare_source(tmp_path, styles, message):
    folder, content, _, weights = cli_files(tmp_path)
    transfer = StyleTransfer(make_config(weights=str(weights), size=32), "torch")
    with pytest.raises(NstError, match=message):
        transfer.prepare(content, styles)


def test_relative_style_weights_taper_in_the_deepest_blocks_and_other_normalizations_stay_equal():
    spec = make_config().loss_spec()
    weights = dict(spec.style)
    assert weights["relu1_1"] == weights["relu2_1"] == weights["relu3_1"]
    assert weights["relu4_1"] == pytest.approx(0.5 * weights["relu1_1"])
    assert weights["relu5_1"] == pytest.approx(0.1 * weights["relu1_1"])
    assert sum(weights.values()) == pytest.approx(make_config().style_weight)
    for preset in ("mse", "gatys2016"):
        assert len(set(dict(make_config(preset).loss_spec().style).values())) == 1
    given = make_config(style_layer_weights=(1.0,) * 5).loss_spec()
    assert len(set(dict(given.style).values())) == 1  # asked for: kept
    shallow = make_config(style_layers=("relu1_1", "relu4_1")).loss_spec()
    assert dict(shallow.style)["relu4_1"] == pytest.approx(0.5 * dict(shallow.style)["relu1_1"])
