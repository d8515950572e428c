"""L-BFGS with a strong-Wolfe line search whose state stays on the device.

The algorithm is torch.optim.LBFGS's with ``line_search_fn="strong_wolfe"`` (the paper's
optimiser, with the line search that keeps lr=1 steps stable): the same two-loop recursion,
first trial step, Wolfe constants, cubic interpolation and zoom, so the iterates agree with
it to float rounding (tests/test_lbfgs.py). What differs is where the numbers live, because
torch's reads a host scalar for every history pair, every Wolfe test and every loss
(docs/performance.md):

- the curvature pairs are two preallocated ``[history, pixels]`` tensors filled as a ring,
  with their 1/(s'y) in a vector; the two-loop recursion's coefficients stay 0-d device
  tensors, so a direction is computed without a host read (on CUDA, replayed from a CUDA
  graph: ``capture``);
- the host reads one small tensor per evaluation: the loss and the slope along the direction
  there (and, at a search's first trial, the slope and size of the direction itself), which
  the line search branches on; and once per run, |g|_1 for the very first trial step.

Departures, none of which occurs on a run that makes progress: a pair with s'y <= 1e-10
takes its ring slot with weight 0 (torch drops it and keeps the older pair one step longer),
since testing s'y would be a host read; a search stops after ``LINESEARCH_EVALUATIONS``
evaluations; and no iteration ends a run early on a small change of loss or step (torch's
``tolerance_change`` stops one ``step`` call, and the next call goes on).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nst.backends.torch.graphs import graphed_or_eager
from nst.objective import LINESEARCH_EVALUATIONS

Terms = dict[str, torch.Tensor]
# A point's loss terms ("total" among them) and the flat gradient of the total there.
Evaluate = Callable[[torch.Tensor], tuple[Terms, torch.Tensor]]
# A curvature pair: the step s, the gradient's change y, and 1 / s'y (0 for a skipped pair).
Pair = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
# A point on the search line: (step, loss, slope along the direction, terms, gradient).
Point = tuple[float, float, float, Terms, torch.Tensor]

# torch.optim.LBFGS's constants: sufficient decrease, curvature, and the width below which a
# bracket (or a direction's slope) counts as no change.
ARMIJO = 1e-4
CURVATURE = 0.9
TOLERANCE_CHANGE = 1e-9
# torch.optim.LBFGS stores a curvature pair only where s'y exceeds this.
MIN_CURVATURE = 1e-10


class DeviceLBFGS:
    """L-BFGS on the flat tensor ``x``, updated in place; ``evaluate`` gives terms and gradient
    at a point. ``terms`` are the current iterate's, still on the device."""

    def __init__(self, x: torch.Tensor, evaluate: Evaluate, history: int, lr: float, capture: bool = False):
        """``capture``: compute directions with a CUDA graph (``_direction_in_device_order``)."""
        self.x, self.evaluate, self.history, self.lr = x, evaluate, history, lr
        self.evaluations = 0
        self.terms: Terms = {}
        self._loss = 0.0
        self._grad: torch.Tensor | None = None
        self._stopped = False  # the direction no longer descends: later steps stay put
        self._steps_taken = torch.zeros(0)  # the [history, pixels] ring of s, filled on first use
        self._grad_changes = torch.zeros(0)  # ... and of y
        self._inverse_curvatures = torch.zeros(history, device=x.device)  # 1 / s'y, 0 if skipped
        self._pairs = 0  # pairs pushed so far, the ring's write position modulo ``history``
        self._pairs_on_device = torch.zeros((), dtype=torch.long, device=x.device)
        self._slot_offsets = torch.arange(history, device=x.device)
        self._hessian_scale = torch.ones((), device=x.device)  # s'y / y'y of the newest pair
        self._capture = capture
        self._graphed_direction: Callable[[torch.Tensor], torch.Tensor] | None = None

    def step(self) -> None:
        """One iteration: a direction, a line search along it, and the move."""
        if self._grad is None:
            self.terms, self._grad = self._evaluated(self.x)
            self._loss = float(self.terms["total"])
        if self._stopped:
            return
        grad = self._grad
        if self._pairs == 0:
            direction = grad.neg()
            # torch's first trial: lr * min(1, 1 / |g|_1).
            trial = min(1.0, float(1.0 / grad.abs().sum())) * self.lr
        else:
            direction = self._direction_function()(grad)
            trial = self.lr
        slope = grad.dot(direction)
        accepted = self._line_search(direction, slope, trial)
        if accepted is None:
            self._stopped = True
            return
        step, self._loss, _, self.terms, new_grad = accepted
        self.x.add_(direction, alpha=step)
        self._remember(direction.mul(step), new_grad.sub(grad))
        self._grad = new_grad

    def _evaluated(self, point: torch.Tensor) -> tuple[Terms, torch.Tensor]:
        self.evaluations += 1
        return self.evaluate(point)

    def _direction_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if not self._capture:
            return self._direction
        if self._graphed_direction is None:
            assert self._grad is not None
            self._graphed_direction = graphed_or_eager(self._direction_in_device_order, self._grad)
        return self._graphed_direction

    def _direction(self, grad: torch.Tensor) -> torch.Tensor:
        """-H grad over the stored pairs, newest first in an order the host knows."""
        newest_first = [(self._pairs - 1 - k) % self.history for k in range(min(self._pairs, self.history))]

        def pair(k: int) -> Pair:
            slot = newest_first[k]
            return self._steps_taken[slot], self._grad_changes[slot], self._inverse_curvatures[slot]

        return two_loop(grad, len(newest_first), pair, self._hessian_scale)

    def _direction_in_device_order(self, grad: torch.Tensor) -> torch.Tensor:
        """``_direction`` over every slot, newest first in an order computed on the device, so
        one CUDA graph serves every step. An empty slot, all zeros with 1/s'y = 0, leaves the
        recursion exactly as it was: the result is ``_direction``'s, bit for bit."""
        order = torch.remainder(self._pairs_on_device - 1 - self._slot_offsets, self.history)

        def pair(k: int) -> Pair:
            # index_select with a device index: indexing with a 0-d tensor would read it on the host.
            slot = order[k : k + 1]
            rings = (self._steps_taken, self._grad_changes, self._inverse_curvatures)
            step, change, inverse = (ring.index_select(0, slot)[0] for ring in rings)
            return step, change, inverse

        return two_loop(grad, self.history, pair, self._hessian_scale)

    def _remember(self, step: torch.Tensor, grad_change: torch.Tensor) -> None:
        if self._pairs == 0:
            shape = (self.history, step.numel())
            self._steps_taken = torch.zeros(shape, device=step.device, dtype=step.dtype)
            self._grad_changes = torch.zeros(shape, device=step.device, dtype=step.dtype)
        slot = self._pairs % self.history
        curvature = grad_change.dot(step)
        kept = curvature > MIN_CURVATURE
        self._steps_taken[slot] = step
        self._grad_changes[slot] = grad_change
        self._inverse_curvatures[slot] = torch.where(kept, 1.0 / curvature, 0.0)
        hessian_scale = curvature / grad_change.dot(grad_change)
        # In place, as the ring: a captured direction reads these very tensors.
        self._hessian_scale.copy_(torch.where(kept, hessian_scale, self._hessian_scale))
        self._pairs += 1
        self._pairs_on_device.add_(1)

    def _line_search(self, direction: torch.Tensor, slope: torch.Tensor, step: float) -> Point | None:
        """torch.optim.lbfgs._strong_wolfe from ``self.x`` along ``direction``, first trying
        ``step``: the accepted point, or None when ``direction`` does not descend."""
        loss, grad = self._loss, self._grad
        assert grad is not None
        terms_new, grad_new = self._evaluated(self.x.add(direction, alpha=step))
        read = torch.stack([slope, direction.abs().max(), terms_new["total"], grad_new.dot(direction)])
        slope_start, direction_size, loss_new, slope_new = read.tolist()
        if slope_start > -TOLERANCE_CHANGE:
            return None

        def evaluate_at(step: float) -> Point:
            terms, point_grad = self._evaluated(self.x.add(direction, alpha=step))
            loss_here, slope_here = torch.stack([terms["total"], point_grad.dot(direction)]).tolist()
            return step, loss_here, slope_here, terms, point_grad

        def too_high(step: float, loss_here: float) -> bool:
            """Fails sufficient decrease (a NaN loss passes, as in torch)."""
            return loss_here > loss + ARMIJO * step * slope_start

        def curvature_met(slope_here: float) -> bool:
            return abs(slope_here) <= -CURVATURE * slope_start

        previous: Point = (0.0, loss, slope_start, self.terms, grad)
        current: Point = (step, loss_new, slope_new, terms_new, grad_new)
        bracket: list[Point] = []
        done = False
        iterations = 0
        while iterations < LINESEARCH_EVALUATIONS:
            step, loss_new, slope_new = current[:3]
            if too_high(step, loss_new) or (iterations > 1 and loss_new >= previous[1]):
                bracket = [previous, current]
                break
            if curvature_met(slope_new):
                bracket, done = [current], True
                break
            if slope_new >= 0:
                bracket = [previous, current]
                break
            bounds = (step + 0.01 * (step - previous[0]), step * 10)
            trial = cubic_minimum(previous[0], previous[1], previous[2], step, loss_new, slope_new, bounds)
            previous, current = current, evaluate_at(trial)
            iterations += 1
        if iterations == LINESEARCH_EVALUATIONS:
            bracket = [(0.0, loss, slope_start, self.terms, grad), current]

        # Zoom: narrow the bracket to a point meeting both conditions.
        insufficient_progress = False
        low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
        while not done and iterations < LINESEARCH_EVALUATIONS:
            if abs(bracket[1][0] - bracket[0][0]) * direction_size < TOLERANCE_CHANGE:
                break
            trial = cubic_minimum(*bracket[0][:3], *bracket[1][:3])
            wide, narrow = max(bracket[0][0], bracket[1][0]), min(bracket[0][0], bracket[1][0])
            margin = 0.1 * (wide - narrow)
            if min(wide - trial, trial - narrow) < margin:
                # Near an end: move a tenth of the bracket inside when progress was already poor.
                if insufficient_progress or trial >= wide or trial <= narrow:
                    trial = wide - margin if abs(trial - wide) < abs(trial - narrow) else narrow + margin
                    insufficient_progress = False
                else:
                    insufficient_progress = True
            else:
                insufficient_progress = False
            point = evaluate_at(trial)
            _, loss_here, slope_here = point[:3]
            iterations += 1
            if too_high(trial, loss_here) or loss_here >= bracket[low][1]:
                bracket[high] = point
                low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
            else:
                if curvature_met(slope_here):
                    done = True
                elif slope_here * (bracket[high][0] - bracket[low][0]) >= 0:
                    bracket[high] = bracket[low]
                bracket[low] = point
        return bracket[low]


def two_loop(
    grad: torch.Tensor, count: int, pair: Callable[[int], Pair], hessian_scale: torch.Tensor
) -> torch.Tensor:
    """-H grad by L-BFGS's two-loop recursion over ``count`` curvature pairs, ``pair(0)`` the
    newest; each pair is fetched when used, so none is copied for longer than its turn."""
    q = grad.neg()
    alphas = []
    for k in range(count):
        step, change, inverse = pair(k)
        alphas.append(step.dot(q) * inverse)
        q.addcmul_(change, alphas[k], value=-1)
    r = q.mul(hessian_scale)
    for k in reversed(range(count)):
        step, change, inverse = pair(k)
        beta = change.dot(r) * inverse
        r.addcmul_(step, alphas[k] - beta)
    return r


def cubic_minimum(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimiser of the cubic through two points' values and slopes, clamped to ``bounds``
    (by default the points' interval); its midpoint where the cubic has none (torch's
    ``_cubic_interpolate``)."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = d2_square**0.5
    if x1 <= x2:
        minimum = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        minimum = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(minimum, low), high)
