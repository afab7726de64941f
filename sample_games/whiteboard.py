"""The paper's collaborative app: a whiteboard that every peer draws on in its own colour.

What it shows: shared input that is not a game. Drag with the mouse to draw a stroke;
Ctrl-Z takes back your own last stroke; C (or the button at the bottom right) clears the
board for everyone. Each peer gets its own colour, in the order peers first draw.

How this works: a stroke is a few ``"ink"`` events: the first one is sent when the button
goes down, then the points collected while dragging go out in batches (at most
:data:`POINTS_PER_EVENT` points, at least every :data:`FLUSH_EVERY_TICKS` ticks while the
mouse moves, and at release), each naming the stroke by the peer's own stroke number. The
board (``self.state``) is plain integers: the strokes in drawing order, each with its
peer, number, colour and flat ``[x0, y0, x1, y1, ...]`` points. The drawing order is the
order in which strokes' first events apply, which is the timeline's order (tick, source,
seq) on every peer: a stroke that arrives late makes the time machine roll back and slots
it in where it belongs, under the strokes drawn after it. ``"undo"`` removes the sender's
last stroke still on the board; ``"clear"`` empties it. Your own stroke is also drawn as a
local preview while its events are on their way (Delta, 0.1 s), so the pen feels direct.

Run two peers on one machine::

    python -m sample_games.whiteboard                  # prints: listening on 127.0.0.1:PORT
    python -m sample_games.whiteboard --peer 127.0.0.1:PORT
    python -m sample_games.whiteboard --autopilot 1    # it draws by itself
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import arcade

from arcade_p2p.events import Event
from arcade_p2p.window import SymmetricWindow

__all__ = ["Board", "Stroke", "Whiteboard", "add_ink", "clear_board", "main", "undo_stroke"]

BOARD_WIDTH_PX = 960
BOARD_HEIGHT_PX = 640
POINTS_PER_EVENT = 24
"""Most points one ``"ink"`` event carries (about 150 bytes: well under the payload limit)."""
FLUSH_EVERY_TICKS = 5
"""While the mouse moves, collected points are sent at least this often (0.1 s at 50 fps)."""
MIN_STEP_PX = 3
"""A dragged point closer than this to the previous one is skipped."""
MAX_POINTS_PER_STROKE = 2000
MAX_STROKES = 400
"""Beyond this, the oldest stroke leaves the board (keeps snapshots and drawing cheap)."""
LINE_WIDTH_PX = 5
PALETTE = (
    (220, 50, 47),  # red
    (38, 139, 210),  # blue
    (133, 153, 0),  # green
    (211, 54, 130),  # magenta
    (203, 75, 22),  # orange
    (108, 113, 196),  # violet
    (42, 161, 152),  # cyan
    (181, 137, 0),  # yellow
)
PREVIEW_COLOR = (150, 150, 150)
"""Colour of your first stroke's preview, before the board has given you a colour."""
PAPER_COLOR = (250, 248, 240)
INK_COLOR = (40, 44, 52)
BAR_COLOR = (236, 232, 220)
BAR_HEIGHT_PX = 40
BUTTON = (BOARD_WIDTH_PX - 130, 6, 120, 28)
"""The clear button: left, bottom, width, height in pixels."""
TITLE = "Whiteboard"
HELP = "drag to draw  ·  Ctrl-Z undo your last stroke  ·  C clear the board for everyone"
AUTOPILOT_STROKE_CHANCE = 0.05
"""Chance per idle frame that the autopilot starts a stroke."""
AUTOPILOT_UNDO_CHANCE = 0.003
AUTOPILOT_CLEAR_CHANCE = 0.0003
AUTOPILOT_STROKE_FRAMES = (15, 60)
"""Shortest and longest autopilot stroke, in frames."""
AUTOPILOT_PEN_STEP_PX = 7.0
AUTOPILOT_TURN_RAD = 0.35
"""Largest change of the autopilot pen's heading per frame."""
AUTOPILOT_MARGIN_PX = 60


@dataclass(slots=True)
class Stroke:
    """One stroke on the board.

    Attributes:
        source: Id of the peer that drew it.
        number: That peer's stroke number (names the stroke in its events).
        colour: Index into :data:`PALETTE`.
        points: Flat ``[x0, y0, x1, y1, ...]`` in board pixels.
    """

    source: int
    number: int
    colour: int
    points: list[int]


@dataclass(slots=True)
class Board:
    """The whole simulation state.

    Attributes:
        strokes: Strokes in drawing order (first drawn first).
        colours: Colour index of each peer, in the order peers first drew.
        clears: How many times the board was cleared.
    """

    strokes: list[Stroke] = field(default_factory=list)
    colours: dict[int, int] = field(default_factory=dict)
    clears: int = 0


def add_ink(board: Board, source: int, number: int, points: Sequence[int]) -> None:
    """Add points to stroke ``(source, number)``, starting it at the top if it is new."""
    stroke = _find(board, source, number)
    if stroke is None:
        colour = board.colours.setdefault(source, len(board.colours) % len(PALETTE))
        stroke = Stroke(source, number, colour, [])
        board.strokes.append(stroke)
        del board.strokes[:-MAX_STROKES]
    if len(stroke.points) + len(points) <= 2 * MAX_POINTS_PER_STROKE:
        stroke.points.extend(points)


def undo_stroke(board: Board, source: int) -> None:
    """Remove the last stroke of ``source`` still on the board (if any)."""
    for index in range(len(board.strokes) - 1, -1, -1):
        if board.strokes[index].source == source:
            del board.strokes[index]
            return


def clear_board(board: Board) -> None:
    """Remove every stroke."""
    board.strokes.clear()
    board.clears += 1


def _find(board: Board, source: int, number: int) -> Stroke | None:
    for stroke in reversed(board.strokes):
        if stroke.source == source and stroke.number == number:
            return stroke
    return None


def _is_ink(payload: Any) -> bool:
    """Whether a payload is ``[number, x0, y0, ...]`` on the board (peers may send anything)."""
    if not isinstance(payload, list) or not 3 <= len(payload) <= 1 + 2 * POINTS_PER_EVENT:
        return False
    if len(payload) % 2 == 0 or not all(type(v) is int for v in payload):
        return False
    xs, ys = payload[1::2], payload[2::2]
    return (
        payload[0] >= 0
        and all(0 <= x < BOARD_WIDTH_PX for x in xs)
        and all(0 <= y < BOARD_HEIGHT_PX for y in ys)
    )


def _pairs(points: Sequence[int]) -> list[tuple[int, int]]:
    return list(zip(points[0::2], points[1::2]))


@dataclass(slots=True)
class _Pen:
    """Where the autopilot's pen is and where it heads (local, never shared)."""

    x: float
    y: float
    heading: float
    frames_left: int


class Whiteboard(SymmetricWindow):
    """A shared whiteboard: drag to draw, Ctrl-Z to undo your stroke, C to clear."""

    WIDTH_PX = BOARD_WIDTH_PX
    HEIGHT_PX = BOARD_HEIGHT_PX

    state: Board

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("title", TITLE)
        super().__init__(*args, **kwargs)
        self.background_color = PAPER_COLOR
        self._stroke_number = 0
        self._drawing = False
        self._unsent: list[int] = []
        self._sent_at_tick = 0
        self._previews: dict[int, tuple[int, list[int]]] = {}
        """Own strokes whose events may not have applied yet: number -> (last tick, points)."""
        self._pen: _Pen | None = None
        self._title = arcade.Text(TITLE, 12, self.height - 28, INK_COLOR, 18, bold=True)
        self._help = arcade.Text(HELP, 12, 14, INK_COLOR, 11)
        self._button = arcade.Text(
            "Clear all (C)",
            BUTTON[0] + BUTTON[2] // 2,
            BUTTON[1] + 9,
            PAPER_COLOR,
            11,
            anchor_x="center",
            bold=True,
        )
        self._legend: list[arcade.Text] = []

    # ------------------------------------------------------------ simulation
    def on_start(self) -> None:
        self.state = Board()

    def on_update(self, delta_time: float) -> None:
        pass  # the board only changes on events

    def on_event(self, event: Event) -> None:
        if event.name == "ink" and _is_ink(event.payload):
            add_ink(self.state, event.source, event.payload[0], event.payload[1:])
        elif event.name == "undo":
            undo_stroke(self.state, event.source)
        elif event.name == "clear":
            clear_board(self.state)

    # ------------------------------------------------------------ drawing
    def on_draw(self) -> None:
        self.clear()
        board = self.state
        for stroke in board.strokes:
            self._draw_points(stroke.points, PALETTE[stroke.colour])
        self._forget_applied_previews()  # local drawing aids only, never the state
        own = board.colours.get(self.session.peer_id)
        preview_color = PREVIEW_COLOR if own is None else PALETTE[own]
        for _, points in self._previews.values():
            self._draw_points(points, preview_color)
        self._draw_bars(board)

    def _draw_points(self, points: Sequence[int], color: tuple[int, int, int]) -> None:
        if len(points) == 2:
            arcade.draw_circle_filled(points[0], points[1], LINE_WIDTH_PX / 2, color)
        elif points:
            arcade.draw_line_strip(_pairs(points), color, LINE_WIDTH_PX)

    def _draw_bars(self, board: Board) -> None:
        width, height = self.width, self.height
        top = height - BAR_HEIGHT_PX
        arcade.draw_lbwh_rectangle_filled(0, top, width, BAR_HEIGHT_PX, BAR_COLOR)
        arcade.draw_lbwh_rectangle_filled(0, 0, width, BAR_HEIGHT_PX, BAR_COLOR)
        self._title.y = height - 28
        self._title.draw()
        self._help.draw()
        arcade.draw_lbwh_rectangle_filled(*BUTTON, INK_COLOR)
        self._button.draw()
        counts = Counter(stroke.source for stroke in board.strokes)
        while len(self._legend) < len(board.colours):
            self._legend.append(arcade.Text("", 0, 0, INK_COLOR, 11))
        x = width - 12
        for text, (source, colour) in zip(self._legend, reversed(board.colours.items())):
            who = "you" if source == self.session.peer_id else f"peer {source % 1000:03d}"
            text.text = f"{who}: {counts[source]}"
            x -= text.content_width
            text.x, text.y = x, height - 26
            text.draw()
            x -= 20
            arcade.draw_circle_filled(x + 8, height - 21, 7, PALETTE[colour])
            x -= 14

    # ------------------------------------------------------------ local input
    def on_mouse_press(self, x: int, y: int, button: int, modifiers: int) -> None:
        left, bottom, width, height = BUTTON
        if left <= x < left + width and bottom <= y < bottom + height:
            self.broadcast("clear")
        elif button == arcade.MOUSE_BUTTON_LEFT:
            self._stroke_number += 1
            self._drawing = True
            self._unsent = list(_on_board(x, y))
            self._send_ink()

    def on_mouse_drag(self, x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int) -> None:
        if not self._drawing:
            return
        point = _on_board(x, y)
        last = self._previews[self._stroke_number][1][-2:]
        if max(abs(point[0] - last[0]), abs(point[1] - last[1])) < MIN_STEP_PX:
            return
        self._unsent.extend(point)
        self._previews[self._stroke_number][1].extend(point)
        if (
            len(self._unsent) >= 2 * POINTS_PER_EVENT
            or self.session.tick >= self._sent_at_tick + FLUSH_EVERY_TICKS
        ):
            self._send_ink()

    def on_mouse_release(self, x: int, y: int, button: int, modifiers: int) -> None:
        if self._drawing and button == arcade.MOUSE_BUTTON_LEFT:
            self._send_ink()
            self._drawing = False

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol == arcade.key.Z and modifiers & (arcade.key.MOD_CTRL | arcade.key.MOD_COMMAND):
            self.broadcast("undo")
        elif symbol == arcade.key.C and not modifiers & arcade.key.MOD_CTRL:
            self.broadcast("clear")

    def _send_ink(self) -> None:
        """Broadcast the collected points of the current stroke and keep its preview."""
        if not self._unsent:
            return
        event = self.broadcast("ink", [self._stroke_number, *self._unsent])
        _, points = self._previews.get(self._stroke_number, (0, []))
        if not points:
            points = list(self._unsent)
        self._previews[self._stroke_number] = (event.tick, points)
        self._unsent = []
        self._sent_at_tick = self.session.tick

    def _forget_applied_previews(self) -> None:
        """Drop previews of strokes whose last event has applied (the board shows them)."""
        tick = self.session.tick
        for number in [n for n, (last, _) in self._previews.items() if last < tick]:
            if number != self._stroke_number or not self._drawing:
                del self._previews[number]

    # ------------------------------------------------------------ autopilot
    def autopilot(self, rng: random.Random) -> None:
        """Doodle: wandering strokes, now and then an undo, rarely a clear."""
        pen = self._pen
        if pen is None:
            roll = rng.random()
            if roll < AUTOPILOT_STROKE_CHANCE:
                margin = AUTOPILOT_MARGIN_PX
                self._pen = pen = _Pen(
                    rng.uniform(margin, BOARD_WIDTH_PX - margin),
                    rng.uniform(margin + BAR_HEIGHT_PX, BOARD_HEIGHT_PX - margin - BAR_HEIGHT_PX),
                    rng.uniform(0, 2 * math.pi),
                    rng.randint(*AUTOPILOT_STROKE_FRAMES),
                )
                self.on_mouse_press(int(pen.x), int(pen.y), arcade.MOUSE_BUTTON_LEFT, 0)
            elif roll < AUTOPILOT_STROKE_CHANCE + AUTOPILOT_UNDO_CHANCE:
                self.on_key_press(arcade.key.Z, arcade.key.MOD_CTRL)
            elif roll < AUTOPILOT_STROKE_CHANCE + AUTOPILOT_UNDO_CHANCE + AUTOPILOT_CLEAR_CHANCE:
                self.on_key_press(arcade.key.C, 0)
            return
        pen.heading += rng.uniform(-AUTOPILOT_TURN_RAD, AUTOPILOT_TURN_RAD)
        x = pen.x + AUTOPILOT_PEN_STEP_PX * math.cos(pen.heading)
        y = pen.y + AUTOPILOT_PEN_STEP_PX * math.sin(pen.heading)
        margin = AUTOPILOT_MARGIN_PX
        if not margin <= x <= BOARD_WIDTH_PX - margin:
            pen.heading = math.pi - pen.heading
        if not margin + BAR_HEIGHT_PX <= y <= BOARD_HEIGHT_PX - margin - BAR_HEIGHT_PX:
            pen.heading = -pen.heading
        pen.x, pen.y = x, y
        self.on_mouse_drag(int(x), int(y), 0, 0, arcade.MOUSE_BUTTON_LEFT, 0)
        pen.frames_left -= 1
        if pen.frames_left <= 0:
            self.on_mouse_release(int(x), int(y), arcade.MOUSE_BUTTON_LEFT, 0)
            self._pen = None


def _on_board(x: float, y: float) -> tuple[int, int]:
    """Window coordinates as whole board pixels, clamped to the board."""
    return (
        min(max(int(x), 0), BOARD_WIDTH_PX - 1),
        min(max(int(y), 0), BOARD_HEIGHT_PX - 1),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the whiteboard from the command line (see ``--help``)."""
    Whiteboard.main(argv)


if __name__ == "__main__":
    main()
