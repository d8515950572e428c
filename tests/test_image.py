"""nst.image (load, resize, save, colour) and nst.demo: every conversion and every error."""

from __future__ import annotations

import io
import os
import sys
import tempfile

import numpy as np
import pytest
from PIL import Image

from nst import image as img
from nst.color import luminance
from nst.demo import demo_content, demo_style
from nst.errors import NstError


def _random_rgb(height=24, width=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _assert_nst_image(image: np.ndarray, shape) -> None:
    assert image.shape == shape
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


# ------------------------------------------------------------------------- loading: files


def test_rgb_png_loads_exactly(tmp_path):
    pixels = _random_rgb()
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    image = img.load_image(tmp_path / "rgb.png")
    _assert_nst_image(image, (24, 32, 3))
    np.testing.assert_allclose(image, pixels / 255.0, atol=1e-7)


def test_path_may_be_a_string(tmp_path):
    Image.fromarray(_random_rgb()).save(tmp_path / "rgb.png")
    _assert_nst_image(img.load_image(str(tmp_path / "rgb.png")), (24, 32, 3))


def test_grayscale_l_becomes_three_equal_channels(tmp_path):
    gray = _random_rgb()[..., 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    image = img.load_image(tmp_path / "gray.png")
    _assert_nst_image(image, (24, 32, 3))
    for channel in range(3):
        np.testing.assert_allclose(image[..., channel], gray / 255.0, atol=1e-7)


def test_palette_with_transparency_composites_on_white(tmp_path):
    palette_image = Image.new("P", (4, 2), 0)
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # 0 red, 1 blue
    palette_image.putpixel((3, 1), 1)
    palette_image.info["transparency"] = 1
    palette_image.save(tmp_path / "palette.png", transparency=1)
    image = img.load_image(tmp_path / "palette.png")
    np.testing.assert_allclose(image[0, 0], [1, 0, 0])
    np.testing.assert_allclose(image[1, 3], [1, 1, 1])  # the transparent blue pixel: white


def test_palette_without_transparency(tmp_path):
    palette_image = Image.fromarray(_random_rgb()).convert("P")
    palette_image.save(tmp_path / "palette.png")
    expected = np.asarray(palette_image.convert("RGB")) / 255.0
    np.testing.assert_allclose(img.load_image(tmp_path / "palette.png"), expected, atol=1e-7)


def test_rgba_composites_on_white(tmp_path):
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # transparent black -> white
    rgba[0, 1] = (200, 100, 50, 255)  # opaque: unchanged
    rgba[0, 2] = (0, 0, 0, 51)  # 20% black over white -> 0.8
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    image = img.load_image(tmp_path / "rgba.png")
    np.testing.assert_allclose(image[0, 0], [1, 1, 1])
    np.testing.assert_allclose(image[0, 1], np.array([200, 100, 50]) / 255.0, atol=1e-6)
    np.testing.assert_allclose(image[0, 2], [0.8, 0.8, 0.8], atol=1e-6)


def test_la_composites_on_white(tmp_path):
    Image.fromarray(np.array([[[0, 0], [100, 255]]], dtype=np.uint8), mode="LA").save(tmp_path / "la.png")
    image = img.load_image(tmp_path / "la.png")
    np.testing.assert_allclose(image[0, 0], [1, 1, 1])
    np.testing.assert_allclose(image[0, 1], [100 / 255] * 3, atol=1e-6)


def test_cmyk_converts_to_rgb(tmp_path):
    cmyk = Image.fromarray(_random_rgb()).convert("CMYK")
    cmyk.save(tmp_path / "cmyk.tif")
    expected = np.asarray(cmyk.convert("RGB")) / 255.0
    image = img.load_image(tmp_path / "cmyk.tif")
    _assert_nst_image(image, (24, 32, 3))
    np.testing.assert_allclose(image, expected, atol=1e-7)


def test_16_bit_png_keeps_more_than_8_bits(tmp_path):
    values = np.array([[1000, 1001, 1002], [0, 40000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as opened:
        assert opened.mode.startswith("I")  # PIL reads it as a wide mode, not 8-bit
    image = img.load_image(tmp_path / "deep.png")
    np.testing.assert_allclose(image[..., 0], values / 65535.0, atol=1e-7)
    assert len(np.unique(image[0, :, 0])) == 3  # 1000..1002 would collapse in 8 bits


@pytest.mark.parametrize("mode", ["I", "I;16", "I;16B"])
def test_wide_gray_pil_modes_scale_by_65535(mode):
    values = np.array([[0, 257, 65535]], dtype=np.uint16)
    pil = Image.fromarray(values.astype({"I": np.int32, "I;16": "<u2", "I;16B": ">u2"}[mode]))
    assert pil.mode == mode
    np.testing.assert_allclose(img.from_pil(pil)[..., 1], values / 65535.0, atol=1e-7)


def test_float_pil_mode_is_clipped():
    pil = Image.fromarray(np.array([[-0.5, 0.25, 2.0]], dtype=np.float32))
    assert pil.mode == "F"
    np.testing.assert_allclose(img.from_pil(pil)[0, :, 2], [0.0, 0.25, 1.0])


@pytest.mark.parametrize("mode", ["1", "La", "PA", "RGBa", "YCbCr", "HSV", "LAB", "RGBX"])
def test_every_other_pil_mode_converts(mode):
    _assert_nst_image(img.from_pil(Image.new(mode, (5, 3))), (3, 5, 3))


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(_random_rgb(20, 40)).save(tmp_path / "rotated.jpg", exif=exif)
    assert img.load_image(tmp_path / "rotated.jpg").shape == (40, 20, 3)


# ------------------------------------------------------------------------ loading: arrays


@pytest.mark.parametrize("dtype, full_scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_arrays_scale_to_unit(dtype, full_scale):
    array = np.array([[[0, full_scale // 2, full_scale]]], dtype=dtype)
    np.testing.assert_allclose(img.load_image(array), array / full_scale, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_arrays_are_clipped(dtype):
    array = np.array([[[-0.5, 0.5, 1.5]]], dtype=dtype)
    image = img.load_image(array)
    assert image.dtype == np.float32
    np.testing.assert_allclose(image, [[[0.0, 0.5, 1.0]]])


@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 1)])
def test_gray_arrays_become_rgb(shape):
    array = np.random.default_rng(0).random(shape)
    image = img.load_image(array)
    _assert_nst_image(image, (6, 7, 3))
    np.testing.assert_allclose(image[..., 2], array.reshape(6, 7), atol=1e-7)


def test_rgba_array_composites_on_white():
    array = np.array([[[0, 0, 0, 0], [255, 0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(img.load_image(array), [[[1, 1, 1], [1, 0, 0]]])


def test_loaded_array_is_a_copy():
    array = np.full((4, 4, 3), 0.5, dtype=np.float32)
    img.load_image(array)[:] = 0.0
    assert (array == 0.5).all()


# -------------------------------------------------------------------------- loading: errors


def test_missing_file(tmp_path):
    with pytest.raises(NstError, match=r"no such file: .*nothere\.png"):
        img.load_image(tmp_path / "nothere.png")


def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path):
    with pytest.raises(NstError, match=r"cannot open .*: File name too long"):
        img.load_image(tmp_path / ("a" * 300 + ".png"))


def test_directory(tmp_path):
    with pytest.raises(NstError, match="is a directory"):
        img.load_image(tmp_path)


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("these are not pixels\n")
    with pytest.raises(NstError, match=r"notes\.png is not an image"):
        img.load_image(tmp_path / "notes.png")


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file(tmp_path, fmt, suffix):
    data = _png_bytes(_random_rgb(64, 64), fmt)
    path = tmp_path / f"half{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NstError, match=r"half\.(png|jpg) is truncated or corrupt"):
        img.load_image(path)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(_random_rgb()).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(NstError, match=r"cannot read .*secret\.png: permission denied"):
        img.load_image(path)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their permissions"
)
def test_unreadable_file_for_real(tmp_path):
    path = tmp_path / "secret.png"
    Image.fromarray(_random_rgb()).save(path)
    path.chmod(0)
    with pytest.raises(NstError, match="permission denied"):
        img.load_image(path)


@pytest.mark.parametrize("shape", [(4, 4, 2), (4, 4, 5), (2, 4, 4, 3), (12,)])
def test_array_of_bad_shape(shape):
    with pytest.raises(NstError, match=r"expected H x W"):
        img.load_image(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, bool, np.complex64])
def test_array_of_bad_dtype(dtype):
    with pytest.raises(NstError, match="use uint8"):
        img.load_image(np.zeros((4, 4, 3), dtype=dtype))


def test_array_with_nan():
    array = np.zeros((4, 4, 3), dtype=np.float32)
    array[1, 1, 1] = np.nan
    with pytest.raises(NstError, match="NaN"):
        img.load_image(array)


@pytest.mark.parametrize("shape", [(0, 4, 3), (4, 0)])
def test_empty_array(shape):
    with pytest.raises(NstError, match="empty"):
        img.load_image(np.zeros(shape, dtype=np.uint8))


def test_empty_pil_image():
    with pytest.raises(NstError, match=r"empty \(0x3 px\)"):
        img.load_image(Image.new("RGB", (0, 3)))


def test_unknown_source_type():
    with pytest.raises(NstError, match="cannot read an image from a list"):
        img.load_image([[0, 0, 0]])


def test_describe_source():
    assert img.describe_source("a/b.png") == "a/b.png"
    assert img.describe_source(Image.new("L", (3, 2))) == "a PIL image (L, 3x2)"
    assert "(2, 3, 3)" in img.describe_source(np.zeros((2, 3, 3)))


# ---------------------------------------------------------------------------------- resize


@pytest.mark.parametrize(
    "shape, size, expected",
    [
        ((300, 400), 200, (150, 200)),
        ((400, 300), 200, (200, 150)),
        ((64, 64), 256, (256, 256)),
        ((1000, 3), 100, (100, 1)),  # at least 1 px a side
    ],
)
def test_resize_longest_keeps_aspect(shape, size, expected):
    image = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    resized = img.resize_longest(image, size)
    _assert_nst_image(resized, (*expected, 3))


def test_resize_keeps_float_precision():
    image = np.full((20, 30, 3), 0.3001, dtype=np.float32)  # between two 8-bit levels
    np.testing.assert_allclose(img.resize_longest(image, 77), 0.3001, atol=1e-6)


def test_resize_clips_lanczos_overshoot():
    image = np.zeros((16, 16, 3), dtype=np.float32)
    image[:, 8:] = 1.0  # a hard edge makes Lanczos ring
    resized = img.resize_to(image, 40, 33)
    _assert_nst_image(resized, (40, 33, 3))


def test_resize_to_same_shape_is_a_copy():
    image = np.random.default_rng(0).random((5, 6, 3), dtype=np.float32)
    resized = img.resize_to(image, 5, 6)
    np.testing.assert_array_equal(resized, image)
    assert resized is not image


def test_resize_longest_refuses_size_zero():
    with pytest.raises(NstError, match="at least 1 px"):
        img.resize_longest(np.zeros((4, 4, 3), dtype=np.float32), 0)


def test_check_min_size():
    img.check_min_size((32, 40), 32, "content image")
    with pytest.raises(NstError) as error:
        img.check_min_size((9, 12), 32, "content image")
    assert str(error.value) == (
        "content image is 12x9 px after resizing; the network needs at "
        "least 32 px per side (use a larger --size or image)"
    )


# ------------------------------------------------------------------------------------ save


def test_to_pil_clips_and_rounds():
    pil = img.to_pil(np.array([[[-1.0, 0.5, 2.0], [0.2, 0.0, 1.0]]], dtype=np.float32))
    assert pil.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(pil), [[[0, 128, 255], [51, 0, 255]]])


def test_png_round_trip_is_exact(tmp_path):
    image = _random_rgb() / np.float32(255)
    img.save_image(image, tmp_path / "out.png")
    np.testing.assert_allclose(img.load_image(tmp_path / "out.png"), image, atol=1e-7)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".JPG", ".webp", ".tif", ".tiff", ".bmp"])
def test_every_format_saves(tmp_path, suffix):
    image = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    path = img.save_image(image, tmp_path / f"out{suffix}")
    assert img.load_image(path).shape == (24, 32, 3)


def test_jpeg_quality_is_high(tmp_path):
    y, x = np.mgrid[0:64, 0:64] / 64.0
    image = np.stack([x, y, x * y], axis=-1).astype(np.float32)
    img.save_image(image, tmp_path / "out.jpg")
    assert np.abs(img.load_image(tmp_path / "out.jpg") - image).mean() < 0.01


def test_save_accepts_a_pil_image(tmp_path):
    img.save_image(Image.new("RGB", (3, 2), (255, 0, 0)), tmp_path / "red.png")
    np.testing.assert_allclose(img.load_image(tmp_path / "red.png")[1, 2], [1, 0, 0])


def test_unknown_suffix(tmp_path):
    with pytest.raises(NstError, match=r"unsupported image format \.gif; use one of .*\.png"):
        img.save_image(np.zeros((2, 2, 3)), tmp_path / "out.gif")


def test_saved_file_has_ordinary_permissions(tmp_path):
    path = img.save_image(np.zeros((2, 2, 3)), tmp_path / "out.png")
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("failure", [OSError("disk full"), RuntimeError("bug"), KeyboardInterrupt()])
def test_failed_save_leaves_previous_file_and_no_temp(tmp_path, monkeypatch, failure):
    path = tmp_path / "out.png"
    img.save_image(np.zeros((8, 8, 3)), path)
    before = path.read_bytes()

    def write_half_then_fail(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half an image")
        raise failure

    monkeypatch.setattr(Image.Image, "save", write_half_then_fail)
    with pytest.raises(NstError if isinstance(failure, OSError) else type(failure)):
        img.save_image(np.ones((8, 8, 3)), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(NstError, match="cannot write"):
        img.save_image(np.zeros((2, 2, 3)), tmp_path / "missing" / "out.png")


# ---------------------------------------------------------------------- check_output_path


def test_check_output_path_accepts_and_leaves_nothing(tmp_path):
    assert img.check_output_path(str(tmp_path / "out.png")) == tmp_path / "out.png"
    assert list(tmp_path.iterdir()) == []


def test_check_output_path_missing_directory(tmp_path):
    with pytest.raises(NstError, match=r"output directory does not exist: .*missing"):
        img.check_output_path(tmp_path / "missing" / "out.png")


def test_check_output_path_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NstError, match="is not a directory"):
        img.check_output_path(tmp_path / "file" / "out.png")


def test_check_output_path_is_a_directory(tmp_path):
    (tmp_path / "out.png").mkdir()
    with pytest.raises(NstError, match="output path is a directory"):
        img.check_output_path(tmp_path / "out.png")


def test_check_output_path_unsupported_suffix(tmp_path):
    with pytest.raises(NstError, match=r"unsupported image format \.txt"):
        img.check_output_path(tmp_path / "out.txt")


def test_check_output_path_not_writable(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", denied)
    with pytest.raises(NstError, match=r"output directory is not writable: .*Permission denied"):
        img.check_output_path(tmp_path / "out.png")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere whatever the permissions"
)
def test_check_output_path_not_writable_for_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(NstError, match="not writable"):
        img.check_output_path(locked / "out.png")


@pytest.mark.parametrize(
    "out, step, expected",
    [
        ("out.png", 100, "out_0100.png"),
        ("out.png", 7, "out_0007.png"),
        ("out.png", 12345, "out_12345.png"),
        ("runs/a.b.jpg", 20, "runs/a.b_0020.jpg"),
    ],
)
def test_intermediate_path(tmp_path, out, step, expected):
    assert img.intermediate_path(tmp_path / out, step) == tmp_path / expected


# ------------------------------------------------------------------------------------ demo


def test_demo_style_is_deterministic_and_seeded():
    first, again = demo_style(96, 160, seed=3), demo_style(96, 160, seed=3)
    _assert_nst_image(first, (96, 160, 3))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - demo_style(96, 160, seed=4)).mean() > 0.1


def test_demo_style_is_textured_not_flat():
    style = demo_style(192, 192)
    assert (style.std(axis=(0, 1)) > 0.15).all()
    luma = luminance(style)
    gradient = np.hypot(np.diff(luma, axis=0)[:, :-1], np.diff(luma, axis=1)[:-1])
    assert gradient.mean() > 0.05  # strokes make edges everywhere
    assert (gradient > 0.1).mean() > 0.1  # and strong ones: >10% of pixels


def test_demo_style_refuses_a_degenerate_size():
    with pytest.raises(NstError, match="at least 2 px"):
        demo_style(1, 64)


def test_demo_content_is_the_astronaut():
    pytest.importorskip("skimage")
    _assert_nst_image(demo_content(), (512, 512, 3))


def test_demo_content_without_scikit_image(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage` fail
    with pytest.raises(NstError, match=r"pip install 'nst\[demo\]'"):
        demo_content()
