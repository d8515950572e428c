"""Uploaded images, checked by decoding them: what the studio stores is a PNG it wrote itself
from the decoded pixels, never the bytes or the name it was sent."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from nst import image as img
from nst.errors import NstError

MEGABYTE = 1024 * 1024


class UploadTooLarge(NstError):
    """An upload over the studio's limit of bytes or pixels (HTTP 413)."""


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 64 * MEGABYTE
    # 50 MP: a large camera's photo; Pillow's decompression-bomb guard warns at 89 MP.
    max_pixels: int = 50_000_000


def display_name(filename: str | None) -> str:
    """The name a file is shown under; a name with a path in it is refused, not trimmed."""
    name = filename or "upload"
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise NstError(f"the file name {name!r} has a path in it; upload a file by its own name")
    return name[:200]


def decoded_png(data: bytes, name: str, limits: UploadLimits) -> bytes:
    """The image in ``data`` as PNG bytes (RGB, EXIF orientation applied, alpha on white).

    Anything Pillow cannot decode, an image over ``limits.max_pixels`` and one that trips
    Pillow's decompression-bomb guard are refused with one line naming the file."""
    if len(data) > limits.max_bytes:
        raise UploadTooLarge(
            f"{name} is {len(data) / MEGABYTE:.1f} MB; the studio takes images up to "
            f"{limits.max_bytes / MEGABYTE:.0f} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                width, height = pil.size
                if width * height > limits.max_pixels:
                    raise UploadTooLarge(_too_many_pixels(name, width, height, limits))
                pil.load()
                pixels = img.from_pil(pil, what=name)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise UploadTooLarge(f"{name} is refused by Pillow's decompression-bomb guard ({error})") from None
    except (OSError, SyntaxError, ValueError, Image.UnidentifiedImageError):
        raise NstError(f"{name} is not an image the studio can read (PNG, JPEG, WebP, TIFF, ...)") from None
    out = io.BytesIO()
    img.to_pil(pixels).save(out, format="PNG")
    return out.getvalue()


def _too_many_pixels(name: str, width: int, height: int, limits: UploadLimits) -> str:
    return (
        f"{name} is {width}x{height} px ({width * height / 1e6:.1f} MP); the studio takes images "
        f"up to {limits.max_pixels / 1e6:g} MP"
    )
