"""`python -m bench.gallery`: a labelled contact sheet of results, to look at.

Row 1, the paper's Figure 2 (Gatys et al. 2016): tubingen.jpg in the styles of shipwreck.jpg,
starry_night.jpg and the_scream.jpg. Row 2, a sweep of the content/style ratio alpha/beta
(style weights 1 .. 1000, content weight 1) on tubingen x starry_night: photo-like to
painting-like. Row 3, the colour modes (``--colors`` style, luminance, histogram) on the same
pair, beside the painting. Every render uses the offline VGG16 and Config's other defaults.
The sheet goes to --out (default /tmp/nst-gallery), never into the repository: images made
from the paper's paintings are not committed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nst import image as img
from nst.backend import resolve_backend
from nst.color import COLOR_MODES
from nst.errors import NstError
from nst.events import Stopped
from nst.options.config import Config, make_config
from nst.stylize import StyleTransfer

REPOSITORY = Path(__file__).resolve().parents[1]
IMAGES = REPOSITORY.parent / "shared" / "images"  # as tests/conftest.py resolves them
CONTENT = "tubingen"
FIGURE_2_STYLES = ("shipwreck", "starry_night", "the_scream")
SWEEP_STYLE = "starry_night"
STYLE_WEIGHTS = (1.0, 10.0, 100.0, 1000.0)  # around the default, as alpha/beta powers of ten
# Nine renders (the default-setting one is shared by two cells): small and short enough
# for a CPU, and the styles are clearly visible. Timings: docs/performance.md#the-gallery.
DEFAULT_SIZE, DEFAULT_ITERATIONS = 128, 50

# Layout of the sheet, in pixels.
MARGIN, GAP, FONT_SIZE = 12, 8, 14
CAPTION_HEIGHT = FONT_SIZE + 8
BACKGROUND, INK = (255, 255, 255), (20, 20, 20)

Row = tuple[str, list[tuple[str, np.ndarray]]]  # a title and (caption, image) cells
Render = Callable[..., np.ndarray]  # render(style_name, **config_overrides) -> image


def gallery_rows(
    content: np.ndarray, styles: dict[str, np.ndarray], figure_styles, sweep_style: str, render: Render
) -> list[Row]:
    """The three rows of the sheet; ``render`` does the style transfers."""
    alpha = Config().content_weight
    figure = [("content", content)] + [(name, render(name)) for name in figure_styles]
    sweep = [
        (f"alpha/beta = {_power_of_ten(alpha / weight)}", render(sweep_style, style_weight=weight))
        for weight in STYLE_WEIGHTS
    ]
    colors = [("painting", styles[sweep_style])] + [
        (f"--colors {mode}", render(sweep_style, colors=mode)) for mode in COLOR_MODES
    ]
    return [
        ("Figure 2: the content in three styles", figure),
        (f"content/style ratio, style {sweep_style} (alpha = {alpha:g}, beta = style weight)", sweep),
        (f"colour modes, style {sweep_style}", colors),
    ]


def _power_of_ten(value: float) -> str:
    """1e-05 -> '1e-5': short enough for a caption under a small cell."""
    return f"1e{round(np.log10(value))}" if value > 0 else "0"


def renderer(
    content: np.ndarray,
    styles: dict[str, np.ndarray],
    loaded_weights,
    backend: str | None,
    log: Callable[[str], None],
    **options,
) -> Render:
    """A render function that stylizes ``content`` and remembers each result: the sweep's and
    the colour row's default-setting cells are the Figure 2 cell, rendered once."""
    done: dict[tuple, np.ndarray] = {}

    def render(style: str, **overrides) -> np.ndarray:
        cfg = make_config(**{**options, **overrides})
        key = (style, cfg)
        if key not in done:
            started = time.perf_counter()
            transfer = StyleTransfer(cfg, backend, weights=loaded_weights)
            transfer.prepare(content, [styles[style]])
            result = transfer.run()
            if result.stopped is not Stopped.COMPLETED:
                raise NstError(f"the {style} render stopped early ({result.stopped.value})")
            done[key] = np.clip(result.image, 0.0, 1.0)
            settings = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"
            log(f"{style} ({settings}): {time.perf_counter() - started:.0f} s")
        return done[key]

    return render


def contact_sheet(rows: list[Row], title: str, cell: int) -> Image.Image:
    """The rows as one image: each cell fitted into a ``cell`` px square, a caption under it.

    Pictures sit on the square's bottom edge, so that a landscape picture's caption is right
    under it rather than below the square's empty lower part."""
    font = ImageFont.load_default(size=FONT_SIZE)
    columns = max(len(cells) for _, cells in rows)
    _, _, right, bottom = cell_box(len(rows) - 1, columns - 1, cell)
    sheet = Image.new("RGB", (right + MARGIN, bottom + CAPTION_HEIGHT + MARGIN), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((MARGIN, MARGIN), title, fill=INK, font=font)
    for row, (row_title, cells) in enumerate(rows):
        title_top = cell_box(row, 0, cell)[1] - CAPTION_HEIGHT + 4
        draw.text((MARGIN, title_top), row_title, fill=INK, font=font)
        for column, (caption, picture) in enumerate(cells):
            left, top, _, bottom = cell_box(row, column, cell)
            thumbnail = img.to_pil(img.resize_longest(picture, cell))
            sheet.paste(thumbnail, (left + (cell - thumbnail.width) // 2, bottom - thumbnail.height))
            draw.text((left, bottom + 4), caption, fill=INK, font=font)
    return sheet


def cell_box(row: int, column: int, cell: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a cell's image square on the sheet; each row has its
    title above and captions below."""
    row_height = CAPTION_HEIGHT + cell + CAPTION_HEIGHT + GAP
    left = MARGIN + column * (cell + GAP)
    top = MARGIN + CAPTION_HEIGHT + row * row_height + CAPTION_HEIGHT
    return left, top, left + cell, top + cell


def build_sheet(
    content: np.ndarray,
    styles: dict[str, np.ndarray],
    *,
    figure_styles=FIGURE_2_STYLES,
    sweep_style: str = SWEEP_STYLE,
    weights: str = "vgg16-offline",
    size: int = DEFAULT_SIZE,
    iterations: int = DEFAULT_ITERATIONS,
    backend: str | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> Image.Image:
    """Render every cell and lay out the sheet (the script's work, without the files)."""
    from nst.weights import load_weights

    loaded = load_weights(weights, progress=False)
    backend_name = resolve_backend(backend).name
    render = renderer(
        content,
        styles,
        loaded,
        backend_name,
        log,
        size=size,
        iterations=iterations,
        weights=weights,
        device=device,
        print_every=iterations,
    )
    rows = gallery_rows(content, styles, figure_styles, sweep_style, render)
    title = f"nst: {size} px, {iterations} L-BFGS steps, {loaded.name}, {backend_name}"
    return contact_sheet(rows, title, cell=size)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.gallery", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/nst-gallery"),
        help="folder for gallery.png, outside the repository (default: /tmp/nst-gallery)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"longest side of each render (default: {DEFAULT_SIZE})",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"L-BFGS steps per render (default: {DEFAULT_ITERATIONS})",
    )
    parser.add_argument("--backend", default=None, help="torch or jax (default: $NST_BACKEND, else torch)")
    parser.add_argument("--device", default="auto", help="device (default: auto)")
    parser.add_argument(
        "--images", type=Path, default=IMAGES, help=f"folder with the paper's images (default: {IMAGES})"
    )
    return parser.parse_args(argv)


def load_paper_images(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not folder.is_dir():
        raise NstError(f"the paper's images are not at {folder} (give their folder with --images)")
    content = img.load_image(folder / f"{CONTENT}.jpg")
    styles = {name: img.load_image(folder / f"{name}.jpg") for name in FIGURE_2_STYLES}
    return content, styles


def check_out_folder(out: Path) -> Path:
    out = out.resolve()
    if out == REPOSITORY or REPOSITORY in out.parents:
        raise NstError(
            f"--out {out} is inside the repository; images made from the paper's "
            "paintings are not committed (use a folder such as /tmp/nst-gallery)"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = check_out_folder(args.out)
        content, styles = load_paper_images(args.images)
        started = time.perf_counter()
        sheet = build_sheet(
            content,
            styles,
            size=args.size,
            iterations=args.iterations,
            backend=args.backend,
            device=args.device,
            log=lambda message: print(f"gallery: {message}", flush=True),
        )
        path = img.save_image(sheet, out / "gallery.png")
    except NstError as error:
        print(f"gallery: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
