"""Where the windows of ``arcade-p2p play --local N`` go on the screen.

How this works: :func:`tile_position` lays ``count`` windows of one size out in the grid
of columns and rows that fits them all on the screen at full size (preferring few rows),
row by row from the screen's top-left corner, with a small gap between them. When no grid
fits, the windows are spread evenly over the screen in the most compact grid; they then
overlap as little as the screen allows. Pure arithmetic: the window asks it for its place.
"""

from __future__ import annotations

import math

__all__ = ["TILE_GAP_PX", "parse_tile", "tile_position"]

TILE_GAP_PX = 8
"""Space between two tiled windows (and between a window and the screen's edge)."""


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
    screen_w, screen_h = screen
    cell_w, cell_h = window[0] + TILE_GAP_PX, window[1] + TILE_GAP_PX
    fit_columns = max(1, (screen_w - TILE_GAP_PX) // cell_w)
    columns = min(count, fit_columns)
    rows = math.ceil(count / columns)
    if rows * cell_h + TILE_GAP_PX > screen_h:  # no grid fits: spread the compact grid
        columns = math.ceil(math.sqrt(count))
        rows = math.ceil(count / columns)
        cell_w = max(1, (screen_w - window[0] - TILE_GAP_PX) // max(1, columns - 1))
        cell_h = max(1, (screen_h - window[1] - TILE_GAP_PX) // max(1, rows - 1))
    row, column = divmod(index, columns)
    return TILE_GAP_PX + column * cell_w, TILE_GAP_PX + row * cell_h
