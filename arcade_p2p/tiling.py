"""Where the windows of ``arcade-p2p play --local N`` go on the screen.

How this works: :func:`tile_position` lays ``count`` windows of one size out in the grid
of columns and rows that fits them all on the screen at full size (as many columns as fit,
so as few rows as possible), row by row from the screen's top-left corner, the spare room
shared out as gaps between them. When no grid fits, the windows are spread evenly over
the screen in the most compact grid and overlap as little as the screen allows. Pure
arithmetic: the window asks it for its place.
"""

from __future__ import annotations

import math

__all__ = ["TILE_GAP_PX", "parse_tile", "tile_position"]

TILE_GAP_PX = 8
"""Largest space left between a tiled window and the screen's edge."""


def parse_tile(text: str) -> tuple[int, int]:
    """Parse ``INDEX/COUNT`` (0-based index) as given to ``--tile``.

    Raises:
        ValueError: The text is not two integers with ``0 <= INDEX < COUNT``.
    """
    index_text, _, count_text = text.partition("/")
    index, count = int(index_text), int(count_text)
    if not 0 <= index < count:
        raise ValueError(f"tile {text!r}: need 0 <= INDEX < COUNT")
    return index, count


def tile_position(
    index: int, count: int, *, screen: tuple[int, int], window: tuple[int, int]
) -> tuple[int, int]:
    """The top-left corner, in screen pixels from the top-left, of window ``index``.

    Args:
        index: Which window (0-based).
        count: How many windows share the screen.
        screen: Screen ``(width, height)`` in pixels.
        window: Window ``(width, height)`` in pixels (every window has this size).

    Returns:
        ``(x, y)`` for :meth:`pyglet.window.Window.set_location`.
    """
    (screen_w, screen_h), (window_w, window_h) = screen, window
    columns = max(1, min(count, screen_w // window_w))
    rows = math.ceil(count / columns)
    if rows * window_h > screen_h:  # no grid fits: the most compact one, spread out
        columns = math.ceil(math.sqrt(count))
        rows = math.ceil(count / columns)
    row, column = divmod(index, columns)
    return (
        _spread(column, columns, screen_w, window_w),
        _spread(row, rows, screen_h, window_h),
    )


def _spread(cell: int, cells: int, screen_px: int, window_px: int) -> int:
    """Where cell ``cell`` of ``cells`` starts along one axis: equal gaps when the windows
    fit (at most :data:`TILE_GAP_PX` at the edges), equal steps over the screen when not."""
    spare = screen_px - cells * window_px
    if spare >= 0:
        gap = spare // (cells + 1)
        edge = min(gap, TILE_GAP_PX)
        gap = (spare - 2 * edge) // max(1, cells - 1) if cells > 1 else 0
        return edge + cell * (window_px + gap)
    step = (screen_px - window_px) // max(1, cells - 1)
    return max(0, cell * step)
