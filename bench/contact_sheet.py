"""One PNG per case with every image side by side, each under its label: so that the eye can
check what the judge's numbers say."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nst import image as img

TILE_WIDTH, TILE_HEIGHT = 384, 256  # each image fits in this box, its aspect ratio kept
CAPTION_HEIGHT = 30  # two lines of Pillow's default font
PAD = 6
COLUMNS = 5
BACKGROUND = (32, 32, 32)


@dataclass(frozen=True)
class Tile:
    label: str  # what the image is: "photo", "reference (content weight 5)", a run's label
    caption: str  # its distances, or "" for the photo and the paintings
    image: np.ndarray


def cell_box(index: int) -> tuple[int, int, int, int]:
    """Where tile ``index`` (its caption included) lies on the sheet: left, top, right, bottom."""
    row, column = divmod(index, COLUMNS)
    left = PAD + column * (TILE_WIDTH + PAD)
    top = PAD + row * (CAPTION_HEIGHT + TILE_HEIGHT + PAD)
    return left, top, left + TILE_WIDTH, top + CAPTION_HEIGHT + TILE_HEIGHT


def sheet_size(count: int) -> tuple[int, int]:
    """The sheet's width and height for ``count`` tiles."""
    rows = -(-count // COLUMNS)
    columns = min(count, COLUMNS)
    return PAD + columns * (TILE_WIDTH + PAD), PAD + rows * (CAPTION_HEIGHT + TILE_HEIGHT + PAD)


def write_contact_sheet(tiles: list[Tile], path: Path) -> Path:
    sheet = Image.new("RGB", sheet_size(len(tiles)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, tile in enumerate(tiles):
        left, top, _, _ = cell_box(index)
        picture = img.to_pil(tile.image)
        picture.thumbnail((TILE_WIDTH, TILE_HEIGHT), Image.Resampling.LANCZOS)
        if picture.height < TILE_HEIGHT and picture.width < TILE_WIDTH:  # a small output, shown larger
            scale = min(TILE_WIDTH / picture.width, TILE_HEIGHT / picture.height)
            picture = picture.resize(
                (round(picture.width * scale), round(picture.height * scale)), Image.Resampling.NEAREST
            )
        draw.text((left + 2, top + 2), tile.label, fill="white")
        draw.text((left + 2, top + 15), tile.caption, fill=(200, 200, 200))
        sheet.paste(picture, (left + (TILE_WIDTH - picture.width) // 2, top + CAPTION_HEIGHT))
    return img.save_image(sheet, path)
