"""The game every simulated peer runs: ``arcade-p2p sim --app moving_rect|physics|MODULE:CLASS``.

How this works: a :class:`SimGame` makes each new session's application and, when the
game plays by itself, its *player*: what the peer does at each input time the workload
planned (:mod:`arcade_p2p.sim.workload` plans *when*; the game decides *what*).

* ``moving_rect`` (the default, the paper's app) is
  :class:`~arcade_p2p.sim.moving_rect.MovingRectApp`; its ``"key"`` events are drawn up
  front with the plan, exactly as before.
* ``physics`` is the pymunk sample ``sample_games.physics_arena``, and any
  ``MODULE:CLASS`` names a game the way ``arcade-p2p check`` does (same resolver). A
  :class:`~arcade_p2p.window.SymmetricWindow` game runs window-less
  (:class:`~arcade_p2p.window.WindowlessGame`): its own ``on_start``/``on_update``/
  ``on_event`` are the simulation, and its ``autopilot(rng)`` hook (or the window's
  random keys) is the player, calling the game's input handlers so that the events are
  the game's own. A :class:`~arcade_p2p.app.StateApp` game is the app itself; its
  ``autopilot(rng)`` returns the ``(name, payload)`` pairs to emit.

At an input time the player's autopilot is called again and again (at most
:data:`MAX_AUTOPILOT_CALLS` times, each like one more frame at that instant) until it
emits, so the event rate is the configured one whatever the autopilot's own odds; nothing
is played before START has run or while the session is joining (a window's autopilot
neither). Each session's player draws from its own stream, seeded with the run's seed
and the peer id. A game with its own ``CONFIG`` keeps its snapshot period (pymunk games
depend on it).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arcade_p2p.app import App, StateApp
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.session import Session
from arcade_p2p.sim.moving_rect import MovingRectApp, diverge
from arcade_p2p.sim.workload import InputMaker, key_input

__all__ = [
    "APPS",
    "AUTOPILOT_METHOD",
    "DEFAULT_APP",
    "MAX_AUTOPILOT_CALLS",
    "MOVING_RECT",
    "Player",
    "SimGame",
    "load_game",
]

DEFAULT_APP = "moving_rect"
APPS = {DEFAULT_APP: None, "physics": "sample_games.physics_arena:PhysicsArena"}
"""The named apps of ``--app`` (None: the built-in moving rectangle)."""
AUTOPILOT_METHOD = "autopilot"
MAX_AUTOPILOT_CALLS = 1000
"""Most autopilot calls at one input time before the peer gives that input up."""

Player = Callable[[float], list[Event]]
"""Plays at one input time ``now``; returns the events the peer emitted."""


@dataclass(frozen=True)
class SimGame:
    """What the simulated peers run.

    Attributes:
        name: How ``--app`` named it.
        new_app: Makes a fresh application and, for a game that plays by itself, a
            function that gives the session to its player.
        plan_input: Draws inputs up front (None: the game's player decides at each
            input time).
        snapshot_every_ticks: The game's own snapshot period (None: the simulator's).
        diverge: What ``--desync-peer`` does to a peer's app (None: not supported).
    """

    name: str
    new_app: Callable[[], tuple[App, Callable[[Session, random.Random], Player] | None]]
    plan_input: InputMaker | None = None
    snapshot_every_ticks: int | None = None
    diverge: Callable[[App], None] | None = None


def _moving_rect() -> tuple[App, None]:
    return MovingRectApp(), None


MOVING_RECT = SimGame(DEFAULT_APP, _moving_rect, plan_input=key_input, diverge=diverge)


def load_game(spec: str, *, fps: int) -> SimGame:
    """The game ``--app`` names: ``moving_rect``, ``physics`` or ``MODULE[:CLASS]``.

    Raises:
        UsageError: The module cannot be imported, names no single game class, or the
            game cannot run without a window.
    """
    if spec == DEFAULT_APP:
        return MOVING_RECT
    from arcade_p2p.check.target import is_window_class, load_target  # imports the game

    cls = load_target(APPS.get(spec) or spec)
    config = getattr(cls, "CONFIG", None)
    period = getattr(config, "snapshot_every_ticks", None)
    if is_window_class(cls):
        from arcade_p2p.window import WindowlessGame  # imports arcade (headless)

        WindowlessGame(cls, fps)  # refuses a game that cannot run window-less, now

        def new_window_game() -> tuple[App, Callable[[Session, random.Random], Player]]:
            game = WindowlessGame(cls, fps)

            def bind(session: Session, rng: random.Random) -> Player:
                game.attach(session)
                return _player(session, lambda now: game.play(rng, now=now))

            return game.app, bind

        return SimGame(spec, new_window_game, snapshot_every_ticks=period)
    if not callable(getattr(cls, AUTOPILOT_METHOD, None)):
        raise UsageError(
            f"{cls.__qualname__} is a StateApp without an autopilot(rng) returning "
            "(name, payload) pairs: the simulator has no input for it"
        )

    def new_state_app() -> tuple[App, Callable[[Session, random.Random], Player]]:
        app: StateApp = cls()

        def bind(session: Session, rng: random.Random) -> Player:
            def play(now: float) -> None:
                for name, payload in getattr(app, AUTOPILOT_METHOD)(rng) or ():
                    session.emit(name, payload, now=now)

            return _player(session, play)

        return app, bind

    return SimGame(spec, new_state_app, snapshot_every_ticks=period)


def _player(session: Session, play: Callable[[float], Any]) -> Player:
    """Call ``play(now)`` until the session emitted something (see the module header)."""

    def player(now: float) -> list[Event]:
        if session.joining or session.tick == 0:
            return []
        before = session.events_emitted
        for _ in range(MAX_AUTOPILOT_CALLS):
            play(now)
            if session.events_emitted > before:
                break
        emitted = session.events_emitted - before
        own = session.timeline.source_log(session.peer_id)
        if not emitted or own is None:
            return []
        return [own.events[seq] for seq in range(own.highest - emitted + 1, own.highest + 1)]

    return player
