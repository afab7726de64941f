"""Arcade views on a SymmetricWindow: a shared view runs the simulation, local views run locally.

Real headless windows stepped on a virtual clock over real UDP on loopback, with the
helpers of ``test_window``: the shared view's hooks must be called by the time machine
exactly like a window's (fixed step, re-simulation, draw only the present), a local view
must get its real-time ``on_update`` and ``on_draw`` while the simulation goes on, and
every way of getting views wrong must say so.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import itertools
from collections.abc import Callable
from typing import Any

import arcade
import pytest
import test_window
from test_window import FPS, INSTANT, frames, settle

from arcade_p2p import SharedView, SymmetricWindow, UsageError
from arcade_p2p.drawing import SpriteCache
from arcade_p2p.events import Event

pytestmark = pytest.mark.skipif(
    not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS before this module"
)

windows = test_window.windows  # the fixture that opens windows and closes them after

SHARED_COLOR = arcade.color.ORANGE
LOBBY_COLOR = arcade.color.DARK_BLUE


class Tally(SharedView):
    """Counts ticks and keys in the state; records, outside it, how it was called."""

    def __init__(self, window: SymmetricWindow) -> None:
        super().__init__(window)
        self.update_steps: list[float] = []
        self.draws_at_present: list[bool] = []

    def on_start(self) -> None:
        self.state = {"ticks": 0, "keys": []}

    def on_update(self, delta_time: float) -> None:
        self.update_steps.append(delta_time)
        self.state["ticks"] += 1

    def on_event(self, event: Event) -> None:
        self.state["keys"].append([self.state["ticks"], event.source, event.payload])

    def on_draw(self) -> None:
        self.clear(SHARED_COLOR)
        self.draws_at_present.append(self.state["ticks"] == self.session.tick - 1)

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        self.broadcast("key", symbol)


class Lobby(arcade.View):
    """A local screen: it records its real-time calls; any key enters the shared game."""

    def __init__(self, window: SymmetricWindow, game: Tally) -> None:
        super().__init__(window)
        self.game = game
        self.update_steps: list[float] = []
        self.draws = 0

    def on_update(self, delta_time: float) -> None:
        self.update_steps.append(delta_time)

    def on_draw(self) -> None:
        self.clear(LOBBY_COLOR)
        self.draws += 1

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        self.window.show_view(self.game)


class TallyWindow(SymmetricWindow):
    """Shares a :class:`Tally`; shows the lobby first when asked."""

    WIDTH_PX = 160
    HEIGHT_PX = 120

    def __init__(self, *, lobby_first: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.game = Tally(self)
        self.attach_view(self.game)
        self.lobby = Lobby(self, self.game)
        self.show_view(self.lobby if lobby_first else self.game)


def pixel(window: SymmetricWindow) -> tuple[int, ...]:
    return tuple(arcade.get_image().getpixel((window.width // 2, window.height // 2)))


def test_a_shared_views_hooks_are_the_simulation_over_udp(windows: Callable[..., Any]) -> None:
    a = windows(TallyWindow, config=INSTANT, max_tick=80)
    b = windows(TallyWindow, config=INSTANT, max_tick=80, peers=[a.address])
    presses = {
        10: lambda: a.dispatch_event("on_key_press", arcade.key.A, 0),  # through the view
        11: lambda: b.game.on_key_press(arcade.key.B, 0),
        30: lambda: (a.game.on_key_press(arcade.key.C, 0), b.game.on_key_press(arcade.key.D, 0)),
    }
    settle([a, b], frames([a, b], 70, presses), events=4)
    assert a.session.state_hash() == b.session.state_hash()
    assert a.state == b.state and a.game.state is a.state and len(a.state["keys"]) == 4
    assert a.state["ticks"] == 80
    assert a.session.stats().rollbacks >= 1  # b's input reaches a late ...
    assert len(a.game.update_steps) > 80  # ... and the view's on_update runs again
    for window in (a, b):
        assert set(window.game.update_steps) == {1 / FPS}
        assert window.game.draws_at_present and all(window.game.draws_at_present)
        assert pixel(window) == tuple(SHARED_COLOR)


def test_a_local_view_runs_in_real_time_while_the_simulation_goes_on(
    windows: Callable[..., Any],
) -> None:
    a = windows(TallyWindow, config=INSTANT, max_tick=90, lobby_first=True)
    b = windows(TallyWindow, config=INSTANT, max_tick=90, peers=[a.address])
    lobby_pixels: list[tuple[int, ...]] = []
    presses = {
        0: lambda: lobby_pixels.append(pixel(a)),  # a steps last: its frame is current
        10: lambda: b.game.on_key_press(arcade.key.B, 0),
        40: lambda: a.dispatch_event("on_key_press", arcade.key.SPACE, 0),  # lobby -> game
        60: lambda: a.game.on_key_press(arcade.key.A, 0),
    }
    now = frames([b, a], 70, presses)
    assert lobby_pixels == [tuple(LOBBY_COLOR)]  # the lobby draws, not the shared view
    assert a.current_view is a.game and pixel(a) == tuple(SHARED_COLOR)
    # frames 0..40 show the lobby; the key is dispatched in frame 41, which shows the game
    assert a.lobby.draws == len(a.lobby.update_steps) == 41
    assert a.lobby.update_steps[1:] == pytest.approx([1 / FPS] * 40)  # real elapsed time
    assert len(a.game.draws_at_present) == 70 - 41  # drawn only once shown ...
    assert len(a.game.update_steps) >= 69  # ... but it simulated all along (ticks 1..69)
    settle([a, b], now, events=2)  # the lobby's key was the lobby's, never broadcast
    # one key each (b's is held until b is in step, so under load it may land after a's)
    keys = sorted(source for _, source, _ in a.state["keys"])
    assert keys == sorted([b.session.peer_id, a.session.peer_id])
    assert a.session.state_hash() == b.session.state_hash() and a.state["ticks"] == 90


def test_a_local_view_never_touches_the_simulation(windows: Callable[..., Any]) -> None:
    a = windows(TallyWindow, config=INSTANT, max_tick=20, lobby_first=True)
    frames([a], 10, {})
    ticks = a.state["ticks"]
    a.game.on_update(1 / FPS)  # Arcade's own loop calling the shared view: not a tick
    assert a.state["ticks"] == ticks and len(a.game.update_steps) == ticks
    a.lobby.on_update(0.5)
    assert a.state["ticks"] == ticks


def test_attaching_the_wrong_way_is_refused(windows: Callable[..., Any]) -> None:
    a = windows(TallyWindow, config=INSTANT)
    with pytest.raises(UsageError, match="one shared view"):
        a.show_view(Tally(a))
    a.show_view(a.game)  # the same one again is fine
    plain = windows(SymmetricWindow, config=INSTANT)
    plain.step_frame(0.5 / FPS)
    with pytest.raises(UsageError, match="after the first frame"):
        plain.attach_view(Tally(plain))

    class OwnHooks(SymmetricWindow):
        def on_event(self, event: Event) -> None:
            pass

    class Unshared(arcade.View):  # a port that forgot SharedView
        def on_event(self, event: Event) -> None:
            pass

    with pytest.raises(UsageError, match="defines on_event but is a plain arcade"):
        a.show_view(Unshared(a))
    own = windows(OwnHooks, config=INSTANT)
    with pytest.raises(UsageError, match="defines on_event and shares Tally"):
        own.show_view(Tally(own))


def test_a_shared_view_refuses_fixed_update_and_plain_windows(
    windows: Callable[..., Any],
) -> None:
    with pytest.raises(UsageError, match="on_fixed_update would never be called"):

        class Fixed(SharedView):
            def on_fixed_update(self, delta_time: float) -> None:
                pass

    a = windows(TallyWindow, config=INSTANT)
    stray = Tally(a)
    stray.window = arcade.Window(80, 60, visible=False)
    try:
        with pytest.raises(UsageError, match="show it on a SymmetricWindow"):
            stray.state = 1
    finally:
        stray.window.close()


def test_the_simulation_hooks_of_a_view_cannot_broadcast(windows: Callable[..., Any]) -> None:
    class Chatty(Tally):
        def on_update(self, delta_time: float) -> None:
            self.broadcast("tick")

    class ChattyWindow(SymmetricWindow):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.show_view(Chatty(self))

    a = windows(ChattyWindow, config=INSTANT)
    with pytest.raises(UsageError, match="simulation must not emit events"):
        frames([a], 3, {})


def test_mouse_motion_is_coalesced_to_the_rate(windows: Callable[..., Any]) -> None:
    class Pointer(TallyWindow):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.aim = self.coalesce("aim", rate_hz=10.0)

        def on_mouse_motion(self, x: int, y: int, dx: int, dy: int) -> None:
            self.aim.offer([x, y])

    a = windows(Pointer, config=INSTANT)
    for frame in range(FPS):  # one second, five motion callbacks per frame
        for step in range(5):
            a.on_mouse_motion(frame, step, 1, 1)
        a.step_frame((frame + 0.5) / FPS)
    own = a.session.timeline.source_log(a.session.peer_id)
    aims = [e for e in own.events.values() if e.name == "aim"]
    assert a.aim.offered == 5 * FPS
    assert len(aims) == a.aim.released == 10  # at most rate_hz a second
    assert all(e.name == "aim" and e.payload[1] == 4 for e in aims)  # the newest of its frame
    ticks = [e.tick for e in aims]
    assert min(later - earlier for earlier, later in itertools.pairwise(ticks)) >= FPS // 10


def test_sprite_cache_keeps_one_sprite_per_id(windows: Callable[..., Any]) -> None:
    windows(TallyWindow, config=INSTANT)
    made: list[int] = []

    def make(key: int) -> arcade.Sprite:
        made.append(key)
        return arcade.SpriteSolidColor(4, 4, color=arcade.color.WHITE)

    cache: SpriteCache[int] = SpriteCache(make)
    cache.sync({1: (10, 10), 2: (20, 20)})
    first = cache[1]
    sprites = cache.sync({1: (15, 12), 3: (30, 30)})
    assert made == [1, 2, 3]  # each id built once
    assert cache[1] is first and first.position == (15, 12)
    assert len(cache) == len(sprites) == 2 and first in sprites and cache[3] in sprites
    with pytest.raises(KeyError):
        cache[2]
