"""Images in and out of nst, with numpy and PIL only.

Inside nst an image is a float32 numpy array, H x W x 3, RGB, values in [0, 1].
``load_image`` turns whatever the user gives (a path, a PIL image, an array) into that,
converting every mode PIL reads instead of refusing it; ``save_image`` writes one back
atomically. Every user mistake (a missing file, an unwritable directory...) is an ``NstError``
whose one line names the file and says how to fix it. Colour spaces and colour matching live
in ``nst.color``.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.errors import NstError

# Output suffix -> (PIL format, save options).
SAVE_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".bmp": ("BMP", {}),
}

# PIL modes that hold one channel of more than 8 bits; read as numbers, never through 'L'.
_WIDE_GRAY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ALPHA_MODES = ("LA", "PA", "RGBA", "RGBa")
# Integer full scale of each array dtype nst accepts.
_DTYPE_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


# ---------------------------------------------------------------------------------- loading


def describe_source(source) -> str:
    """A short human name for an image source, for messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, Image.Image):
        return f"a PIL image ({source.mode}, {source.width}x{source.height})"
    if isinstance(source, np.ndarray):
        return f"an array of shape {source.shape} and dtype {source.dtype}"
    return f"a {type(source).__name__}"


def load_image(source) -> np.ndarray:
    """A path, PIL image or array as an H x W x 3 float32 RGB image in [0, 1].

    Grayscale, palette, CMYK and 16-bit images are converted; transparency is composited on
    white; the EXIF orientation is applied. Arrays may be H x W, H x W x 1, x 3 or x 4, uint8
    (0..255), uint16 (0..65535) or float (assumed in [0, 1], clipped).
    """
    if isinstance(source, (str, os.PathLike)):
        return _load_file(Path(source))
    if isinstance(source, Image.Image):
        return from_pil(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    raise NstError(
        f"cannot read an image from {describe_source(source)}; give a file path, a PIL image or a numpy array"
    )


def _load_file(path: Path) -> np.ndarray:
    try:
        exists = path.exists()
    except OSError as error:  # a name the file system refuses (too long, ...)
        raise NstError(f"cannot open {path}: {error.strerror} (check the path)") from None
    if not exists:
        raise NstError(f"no such file: {path} (check the path)")
    if path.is_dir():
        raise NstError(f"{path} is a directory, not an image file (give the path of an image)")
    try:
        with Image.open(path) as pil:
            pil.load()  # decoding happens here: truncated files fail now, inside the try
    except PermissionError:
        raise NstError(f"cannot read {path}: permission denied (check the file's permissions)") from None
    except UnidentifiedImageError:
        raise NstError(
            f"{path} is not an image that PIL can read (use a PNG, JPEG, WebP, TIFF or BMP file)"
        ) from None
    except Image.DecompressionBombError as error:
        raise NstError(f"{path} is too large to decode safely ({error}); resize it first") from None
    except (OSError, SyntaxError, ValueError) as error:  # what PIL's decoders raise on bad data
        raise NstError(f"{path} is truncated or corrupt ({error}); re-export or re-download it") from None
    return from_pil(pil, what=str(path))


def from_pil(pil: Image.Image, what: str | None = None) -> np.ndarray:
    """A PIL image of any mode as an H x W x 3 float32 RGB image in [0, 1]."""
    _check_not_empty(pil.height, pil.width, what or describe_source(pil))
    pil = ImageOps.exif_transpose(pil)
    if pil.mode in _WIDE_GRAY_MODES:
        return _gray_to_rgb(_wide_gray_values(pil))
    if pil.mode == "La":  # premultiplied alpha: PIL converts it to LA only
        pil = pil.convert("LA")
    if pil.mode in _ALPHA_MODES or "transparency" in pil.info:
        rgba = np.asarray(pil.convert("RGBA"), dtype=np.float32) / 255.0
        return _composite_on_white(rgba)
    return np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0


def _wide_gray_values(pil: Image.Image) -> np.ndarray:
    """One-channel >8-bit image as floats in [0, 1], at full precision."""
    values = np.asarray(pil).astype(np.float32)
    if pil.mode != "F":
        # 'I' and 'I;16*' come from 16-bit files (PNG, TIFF): their full scale is 65535.
        values /= 65535.0
    return np.clip(values, 0.0, 1.0)


def _from_array(array: np.ndarray) -> np.ndarray:
    what = describe_source(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise NstError(
            f"cannot use {what} as an image: expected H x W, H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA)"
        )
    _check_not_empty(array.shape[0], array.shape[1], what)
    values = _array_to_unit_floats(array, what)
    if values.shape[-1] == 4:
        return _composite_on_white(values)
    if values.shape[-1] == 1:
        return _gray_to_rgb(values[..., 0])
    return np.ascontiguousarray(values)


def _array_to_unit_floats(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype in _DTYPE_FULL_SCALE:
        return array.astype(np.float32) / np.float32(_DTYPE_FULL_SCALE[array.dtype])
    if array.dtype.kind != "f":
        raise NstError(
            f"cannot use {what} as an image: use uint8 (0..255), uint16 (0..65535) or float values in [0, 1]"
        )
    if not np.isfinite(array).all():
        raise NstError(f"{what} contains NaN or infinite values; give finite values in [0, 1]")
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def _check_not_empty(height: int, width: int, what: str) -> None:
    if height == 0 or width == 0:
        raise NstError(f"{what} is empty ({width}x{height} px); give an image with pixels")


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1).astype(np.float32)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    return (rgb * alpha + (1.0 - alpha)).astype(np.float32)


# --------------------------------------------------------------------------------- resizing


def longest_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """Height and width with the longest side ``size`` px and the aspect ratio kept (each >= 1)."""
    ratio = size / max(height, width)
    return max(1, round(height * ratio)), max(1, round(width * ratio))


def resize_longest(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longest side is ``size`` px, keeping the aspect ratio (each side >= 1 px)."""
    if size < 1:
        raise NstError(f"image size must be at least 1 px, got {size}")
    return resize_to(image, *longest_side_shape(image.shape[0], image.shape[1], size))


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize to exactly ``height`` x ``width`` with Lanczos, in float32 (no 8-bit rounding)."""
    if (height, width) == image.shape[:2]:
        return image.astype(np.float32, copy=True)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(image.shape[-1])
    ]
    # Lanczos rings slightly past the input range at sharp edges.
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def check_min_size(
    image_hw: tuple[int, int], min_side: int, what: str, fix: str = "use a larger --size or image"
) -> None:
    """Refuse an image smaller than the network can take (``min_side`` px per side)."""
    height, width = image_hw
    if min(height, width) < min_side:
        raise NstError(
            f"{what} is {width}x{height} px after resizing; the network needs at least "
            f"{min_side} px per side ({fix})"
        )


# ---------------------------------------------------------------------------------- saving


def to_pil(image: np.ndarray) -> Image.Image:
    """An nst image as an 8-bit RGB PIL image (clipped to [0, 1], rounded)."""
    values = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return Image.fromarray(np.rint(values * 255.0).astype(np.uint8))


def save_image(image, path) -> Path:
    """Write an nst image (or a PIL image) atomically; the format comes from the suffix.

    The image goes to a temporary file in the destination's directory, is flushed to disk,
    then renamed over ``path``: a crash or error never leaves a half-written file behind, and
    a failure leaves an existing ``path`` untouched.
    """
    path = Path(path)
    pil_format, options = _save_format(path)
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    try:
        _write_atomically(path, lambda file: pil.save(file, format=pil_format, **options))
    except OSError as error:
        raise NstError(f"cannot write {path}: {error}") from None
    return path


def remove_partial_writes(path: Path) -> None:
    """Delete the temporary files that atomic writes of ``path`` left beside it when their
    process was killed mid-write (``_write_atomically``'s names: '.STEM-' + 8 characters)."""
    pattern = glob.escape(f".{path.stem}-") + "?" * 8 + glob.escape(path.suffix)
    for partial in path.parent.glob(pattern):
        partial.unlink(missing_ok=True)


def _write_atomically(path: Path, write) -> None:
    # Same directory, so os.replace is a rename on one file system; same suffix, for tools
    # that look at the name.
    temporary = tempfile.NamedTemporaryFile(
        delete=False, dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix
    )
    try:
        with temporary as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        # NamedTemporaryFile creates the file 0600; give it the mode a plain open() would.
        os.chmod(temporary.name, 0o666 & ~_current_umask())
        os.replace(temporary.name, path)
    except BaseException:
        Path(temporary.name).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    # The only portable way to read the umask is to set it; set it straight back (a race
    # only with another thread creating files in these two calls).
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _save_format(path: Path) -> tuple[str, dict]:
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise NstError(
            f"cannot write {path}: unsupported image format {suffix or '(no suffix)'}; "
            f"use one of {', '.join(SAVE_FORMATS)}"
        )
    return SAVE_FORMATS[suffix]


def check_output_path(path) -> Path:
    """Check that ``path`` can be written, before any work is done; return it as a Path."""
    path = Path(path)
    _save_format(path)
    directory = path.parent
    if not directory.exists():
        raise NstError(f"output directory does not exist: {directory} (create it first)")
    if not directory.is_dir():
        raise NstError(f"output directory is not a directory: {directory}")
    if path.is_dir():
        raise NstError(f"output path is a directory: {path} (give a file name such as out.png)")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".nst-write-test-"):
            pass
    except OSError as error:
        raise NstError(
            f"output directory is not writable: {directory} ({error.strerror}); choose another --output"
        ) from None
    return path


def intermediate_path(out_path, step: int) -> Path:
    """Where the image of step ``step`` goes: ``out.png`` -> ``out_0100.png``."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}_{step:04d}{out_path.suffix}")
