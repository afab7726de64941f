"""The heads-up display: a few lines of session figures drawn over a game window.

How this works: :func:`hud_lines` reads a :class:`~arcade_p2p.session.Session` (its
counters, its neighbours' round-trip times, its clock and join state, and its desync state
when the session has one) and returns plain text lines; it never calls anything that could
tick, roll back or repair the simulation. :class:`Hud` keeps one cached :class:`arcade.Text`
per line on a translucent panel in the window's top-left corner and is drawn by
:class:`~arcade_p2p.window.SymmetricWindow` after the game's ``on_draw``; F3 toggles it and
``--info`` starts with it shown.
"""

from __future__ import annotations

from typing import Any

import arcade

from arcade_p2p.session import Session

__all__ = ["HUD_TOGGLE_KEY", "Hud", "hud_lines"]

HUD_TOGGLE_KEY = arcade.key.F3
"""The key that shows or hides the display."""
FONT_SIZE_PT = 10
LINE_HEIGHT_PX = 15
MARGIN_PX = 6
PANEL_WIDTH_PX = 330
TEXT_COLOR = arcade.color.WHITE_SMOKE
PANEL_COLOR = (0, 0, 0, 150)
MAX_NEIGHBOURS_SHOWN = 4
"""Neighbours listed one by one; more are summed up in one line."""
CATCH_UP_SHOWN_TICKS = 2.0
"""A clock further behind the network than this many ticks is shown as catching up."""
MS_PER_S = 1000.0


def hud_lines(session: Session, *, now: float, room: str | None = None) -> list[str]:
    """What the display shows for ``session`` at ``now`` (read-only).

    Args:
        session: The peer's session.
        now: Current ``time.monotonic()`` (for the clock's lag).
        room: The room's name (default: the session's configured room).

    Returns:
        One string per line.
    """
    stats = session.stats()
    last_depth = session.machine.last_rollback_depth
    applied = stats.events + stats.presence_events  # live_events counts presence events too
    late = max(0, applied - stats.live_events - _pending_events(session))
    lines = [
        f"peer {session.peer_id}  room {room if room is not None else session.config.room!r}",
        f"tick {stats.tick - 1}  delta {_delta_text(session)}  {_sync_state(session, now)}",
        f"events {stats.events}  late {late}  rollbacks {stats.rollbacks}"
        f" (last {last_depth} ticks)",
    ]
    links = [link for link in session.node.links if link.up]
    lines.append(f"neighbours {len(links)}")
    for link in links[:MAX_NEIGHBOURS_SHOWN]:
        rtt = link.rtt.min_rtt_s
        shown = "rtt ?" if rtt is None else f"rtt {rtt * MS_PER_S:.1f} ms"
        lines.append(f"  {_address_text(link.address)} peer {link.peer}  {shown}")
    if len(links) > MAX_NEIGHBOURS_SHOWN:
        lines.append(f"  ... and {len(links) - MAX_NEIGHBOURS_SHOWN} more")
    desync = session.desync
    if desync is not None:
        lines.append(f"DESYNC at tick {desync.tick} with peer {desync.other}")
    return lines


def _delta_text(session: Session) -> str:
    """The Delta the next local event gets, and whether this peer chooses it (``auto``)."""
    ticks = session.delay.delta_ticks
    ms = ticks * 1000 / session.config.fps
    return f"{ticks} ticks ({ms:g} ms{', auto' if session.config.auto else ''})"


def _sync_state(session: Session, now: float) -> str:
    if session.joining:
        return "joining"
    lag = session.clock.lag_ticks(now)
    if lag > CATCH_UP_SHOWN_TICKS:
        return f"catching up ({lag:.0f} ticks behind)"
    return "in step"


def _pending_events(session: Session) -> int:
    """Events stamped for ticks that have not run yet (neither on time nor late so far)."""
    timeline = session.timeline
    return sum(len(timeline.at(t)) for t in range(session.tick, timeline.last_tick + 1))


def _address_text(address: Any) -> str:
    if isinstance(address, tuple) and len(address) == 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


class Hud:
    """The display's on/off switch and its cached drawing objects.

    Args:
        visible: Whether it starts shown.
    """

    def __init__(self, *, visible: bool = False) -> None:
        self.visible = visible
        self._texts: list[arcade.Text] = []

    def toggle(self) -> None:
        """Show it if hidden, hide it if shown."""
        self.visible = not self.visible

    def draw(self, lines: list[str], *, window_height: int) -> None:
        """Draw ``lines`` in the top-left corner (call it after the game's ``on_draw``)."""
        while len(self._texts) < len(lines):
            self._texts.append(arcade.Text("", 0, 0, TEXT_COLOR, FONT_SIZE_PT))
        height = len(lines) * LINE_HEIGHT_PX + 2 * MARGIN_PX
        arcade.draw_lbwh_rectangle_filled(
            0, window_height - height, PANEL_WIDTH_PX, height, PANEL_COLOR
        )
        for index, (text, line) in enumerate(zip(self._texts, lines, strict=False)):
            text.text = line
            text.x = MARGIN_PX
            text.y = window_height - MARGIN_PX - (index + 1) * LINE_HEIGHT_PX + 3
            text.draw()
