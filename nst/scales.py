"""Coarse to fine: the sizes a multi-scale run optimises at, and the steps it spends at each.

A run at several scales optimises at a small size first, upsamples the result and continues
at the next size, each about sqrt(2) larger, up to ``--size``. The coarse scales are cheap
(half the pixels per sqrt(2) step down) and settle the large-scale layout, so the final scale
starts close to its optimum.

What auto does comes from ``python -m bench.multiscale`` at 512 px from noise (tubingen x
starry_night, offline VGG16, L-BFGS; bench/results/multiscale-*-2026-11-26). One sqrt(2) step
down is what paid: schedules through 256 px or below did worse. Over six seeds (H200 curves
re-timed at the 2-core CPU's seconds per step with ``python -m bench.step_cost``), 362 x 300 then
512 px reached the single-scale loss after 1000 steps in a median 0.66 of its time (0.53 for
the best seed, never within 700 steps for two of six; on the CPU itself seeds 0 and 1 measured
0.53 and 0.49) and ended steadier (3.10-3.14 against 3.09-3.20) in 0.83 of its cost; 0.3 of the
steps at the coarse scale had a better median than 0.15 or 0.6. From the content photo, whose
layout is already the right one, no schedule tried reached the single-scale loss at all (the
512 px stage ends where a single-scale run ends after as many steps, and the coarse steps are
spent on top); so auto uses one scale there.
"""

from __future__ import annotations

import math

from nst.errors import NstError

SCALE_STEP = math.sqrt(2)
# ``--scales 0`` (auto) adds the coarse scale only if it keeps at least this many pixels:
# below it VGG's relu5_1 sees a map of under 16 x 16, too little for the layout to carry over.
AUTO_SMALLEST_SIDE = 256
# Without --scale-iterations, each coarser scale takes this fraction of --iterations (measured above).
COARSE_STEP_SHARE = 0.3


def scale_sizes(size: int, scales: int, init: str = "noise") -> tuple[int, ...]:
    """Longest sides from the coarsest to ``size``, each ``SCALE_STEP`` apart.

    ``scales`` 0 is auto: one scale when ``init`` is the content photo or when one step down
    would go below ``AUTO_SMALLEST_SIDE`` px (up to 361 px); otherwise two (362-512 at 512 px).
    """
    side = lambda k: max(1, round(size / SCALE_STEP**k))
    if scales == 0:
        scales = 2 if init != "content" and side(1) >= AUTO_SMALLEST_SIDE else 1
    return tuple(side(k) for k in reversed(range(scales)))


def scale_iterations(iterations: int, per_scale: tuple[int, ...] | None, n_scales: int) -> tuple[int, ...]:
    """Steps at each scale: ``per_scale`` when given (one count per scale), else
    ``COARSE_STEP_SHARE`` of ``iterations`` at each coarser scale and ``iterations`` at the last."""
    if per_scale is None:
        coarse = max(1, round(iterations * COARSE_STEP_SHARE))
        return (coarse,) * (n_scales - 1) + (iterations,)
    if len(per_scale) != n_scales:
        raise NstError(f"--scale-iterations has {len(per_scale)} counts for {n_scales} scales")
    return tuple(per_scale)
