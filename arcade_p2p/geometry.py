"""Integer collision and movement helpers for simulation code.

How this works: a shared simulation must compute the same result on every peer and after
every rollback, so it should not lean on Arcade's sprite collisions (they read textures,
hit boxes and floats that only exist where something is drawn). These helpers take plain
integers (pixels, or fixed-point units such as 1/256 pixel) and use only integer
arithmetic -- comparisons of squared distances, :func:`math.isqrt` -- so their answers
are exact and identical everywhere. Rectangles are axis-aligned, given by their centre
and full size like Arcade sprites; edges that only touch do not overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Box", "circle_hits_box", "circles_overlap", "clamp", "step_toward"]


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle in integer units.

    Attributes:
        x: Centre x.
        y: Centre y.
        width: Full width (>= 0).
        height: Full height (>= 0).
    """

    x: int
    y: int
    width: int
    height: int

    @property
    def left(self) -> int:
        """Smallest x (rounded down when the width is odd)."""
        return self.x - self.width // 2

    @property
    def bottom(self) -> int:
        """Smallest y (rounded down when the height is odd)."""
        return self.y - self.height // 2

    @property
    def right(self) -> int:
        """Largest x (exclusive)."""
        return self.left + self.width

    @property
    def top(self) -> int:
        """Largest y (exclusive)."""
        return self.bottom + self.height

    def overlaps(self, other: Box) -> bool:
        """Whether the two rectangles share some area (touching edges do not count)."""
        return (
            self.left < other.right
            and other.left < self.right
            and self.bottom < other.top
            and other.bottom < self.top
        )

    def contains(self, x: int, y: int) -> bool:
        """Whether the point ``(x, y)`` is inside (left/bottom edges in, right/top out)."""
        return self.left <= x < self.right and self.bottom <= y < self.top


def circles_overlap(ax: int, ay: int, a_radius: int, bx: int, by: int, b_radius: int) -> bool:
    """Whether two circles overlap (touching does not count), exactly, without a square root."""
    dx, dy, reach = ax - bx, ay - by, a_radius + b_radius
    return dx * dx + dy * dy < reach * reach


def circle_hits_box(x: int, y: int, radius: int, box: Box) -> bool:
    """Whether a circle overlaps a rectangle (touching does not count)."""
    nearest_x = clamp(x, box.left, box.right)
    nearest_y = clamp(y, box.bottom, box.top)
    dx, dy = x - nearest_x, y - nearest_y
    return dx * dx + dy * dy < radius * radius


def clamp(value: int, low: int, high: int) -> int:
    """``value`` limited to ``low .. high``."""
    return low if value < low else high if value > high else value


def step_toward(x: int, y: int, target_x: int, target_y: int, speed: int) -> tuple[int, int]:
    """Move from ``(x, y)`` toward a target by at most ``speed`` units, in integers.

    The step is the straight line scaled to ``speed``, each axis rounded toward zero (so
    the step is never longer than ``speed`` and never passes the target); when rounding
    leaves nothing, it moves one unit along the longer axis, so a positive speed always
    makes progress. The target is reached exactly once it is within ``speed``.

    Args:
        x: Current x.
        y: Current y.
        target_x: Target x.
        target_y: Target y.
        speed: Largest distance covered in one call (>= 0).

    Returns:
        The new position.
    """
    dx, dy = target_x - x, target_y - y
    squared = dx * dx + dy * dy
    if squared <= speed * speed:
        return target_x, target_y
    distance = math.isqrt(squared - 1) + 1  # rounded up: the step can only get shorter
    step_x, step_y = _toward_zero(dx * speed, distance), _toward_zero(dy * speed, distance)
    if step_x == step_y == 0 and speed > 0:
        if abs(dx) >= abs(dy):
            step_x = 1 if dx > 0 else -1
        else:
            step_y = 1 if dy > 0 else -1
    return x + step_x, y + step_y


def _toward_zero(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded toward zero (``denominator > 0``)."""
    return numerator // denominator if numerator >= 0 else -(-numerator // denominator)
