"""The architectures as data: names, cuts, parameter shapes, inference from a state_dict."""

from __future__ import annotations

import numpy as np
import pytest

from nst.arch import TINY, VGG16, VGG19, infer_arch, random_params
from nst.errors import NstError


def test_layer_names_follow_the_paper():
    assert VGG19.layers[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert "relu5_4" in VGG19.layers and "relu5_4" not in VGG16.layers
    assert len(VGG16.convs) == 13 and len(VGG19.convs) == 16


def test_cut_stops_at_the_deepest_requested_layer():
    assert VGG19.cut(["relu1_1", "relu4_2"])[-1] == "relu4_2"
    assert VGG19.downsampling(["relu5_1"]) == 4
    assert VGG19.downsampling(["relu1_1"]) == 0


def test_channels():
    assert VGG19.channels("relu3_4") == 256 and VGG19.channels("pool5") == 512
    assert TINY.channels("conv1_2") == 4


def test_infer_arch_from_shapes():
    for arch in (TINY, VGG16):
        assert infer_arch(random_params(arch)) is arch


def test_infer_arch_names_first_mismatch():
    params = random_params(TINY)
    params["conv2_1.weight"] = np.zeros((8, 4, 5, 5), np.float32)
    with pytest.raises(NstError, match=r"conv2_1.weight has shape \(8, 4, 5, 5\)"):
        infer_arch(params)
    params = random_params(TINY)
    params["fc6.weight"] = np.zeros(3, np.float32)
    with pytest.raises(NstError, match="unexpected key fc6.weight"):
        infer_arch(params)


def test_unknown_layer_is_refused():
    with pytest.raises(NstError, match="relu6_1"):
        VGG19.check_layers(["relu6_1"])
