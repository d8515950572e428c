"""nst's trade-off curve (one run per value of a swept option) against the reference's points:
what style distance the curve reaches at a reference point's content distance, and whether a
run on the curve dominates the point."""

from __future__ import annotations

from bench.judge import Score


def style_at_content(curve: list[Score], content: float) -> float | None:
    """The curve's style distance at ``content``, linear between its points sorted by content
    distance; None outside the curve's range of content distances."""
    points = sorted(curve, key=lambda score: score.content)
    if not points or not points[0].content <= content <= points[-1].content:
        return None
    for left, right in zip(points, points[1:]):
        if left.content <= content <= right.content:
            if right.content == left.content:
                return min(left.style, right.style)
            share = (content - left.content) / (right.content - left.content)
            return left.style + share * (right.style - left.style)
    return points[0].style  # a curve of one point, at exactly that content distance


def against_reference(curve: dict[str, Score], reference: Score) -> dict:
    """The curve's style at ``reference``'s content distance, and the runs (by label) that
    dominate ``reference``."""
    return {
        "curve_style": style_at_content(list(curve.values()), reference.content),
        "dominated_by": [label for label, score in curve.items() if score.dominates(reference)],
    }
