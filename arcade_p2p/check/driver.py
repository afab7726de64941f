"""One run of a game under the checker: real session, virtual time, seeded input.

How this works: a :class:`CheckedPeer` is the game with its real
:class:`~arcade_p2p.session.Session` and :class:`~arcade_p2p.machine.TimeMachine`, stepped
one frame per tick on a virtual clock (frame ``f`` happens at ``(f + 0.5) / fps`` seconds,
so it runs exactly tick ``f``). A window runs through
:meth:`~arcade_p2p.window.SymmetricWindow.step_frame` like a real frame (input dispatch,
ticks, ``on_draw`` headless, flip), so ``on_draw`` runs for real-time frames only; a
:class:`~arcade_p2p.app.StateApp` is driven through its session alone.

Input comes from the game's autopilot when it has one: a method
``autopilot(self, rng: random.Random)`` called once per frame outside the simulation,
which plays like a user (calls input handlers or ``self.broadcast``) and may also return
``(name, payload)`` pairs to broadcast (a ``StateApp``, which cannot broadcast, must).
Without one, a window gets a :class:`~arcade_p2p.check.player.RandomPlayer` (seeded keys
and mouse through its event handlers); a ``StateApp`` gets no input.

:meth:`CheckedPeer.deliver` and :meth:`CheckedPeer.force_rollback` are how the rollback
run gets the same events late and rewinds at random: they go through the same
timeline/time-machine calls as events arriving from the network.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import pickle
import random
from collections.abc import Iterable
from typing import Any

from arcade_p2p.check.player import RandomPlayer
from arcade_p2p.check.target import is_window_class
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.statediff import FieldDiff, diff_states

__all__ = ["AUTOPILOT_METHOD", "CheckedPeer", "GameFailure", "changed", "digest", "snapshot"]

AUTOPILOT_METHOD = "autopilot"
"""Name of the optional input hook: ``autopilot(self, rng: random.Random)``."""
PLAIN_DATA = (type(None), bool, int, float, str, bytes, list, tuple, dict, set, frozenset)
WINDOW_ATTRIBUTES = frozenset({"closed", "headless", "mouse", "show_info", "state"})
"""Public attributes every window has; the rest of the plain data is the game's."""


class GameFailure(Exception):
    """The game raised while the checker ran it.

    Attributes:
        tick: The tick that was being run.
        error: The exception the game raised.
        unsavable: Whether the state itself cannot be pickled (snapshots are impossible).
        state: The game's state when it failed.
    """

    def __init__(self, tick: int, error: BaseException, *, unsavable: bool, state: Any) -> None:
        super().__init__(f"tick {tick}: {type(error).__name__}: {error}")
        self.tick = tick
        self.error = error
        self.unsavable = unsavable
        self.state = state


def digest(blob: bytes) -> bytes:
    """A short digest of a saved state, to compare runs tick by tick."""
    return hashlib.blake2b(blob, digest_size=16).digest()


class CheckedPeer:
    """The game under test as one peer on a virtual clock.

    Args:
        cls: A :class:`~arcade_p2p.window.SymmetricWindow` or
            :class:`~arcade_p2p.app.StateApp` subclass.
        peer_id: This peer's id (events it broadcasts carry it).
        announce: Whether its session announces its own arrival (a presence event, which
            :meth:`play` returns with the input).
    """

    def __init__(self, cls: type, *, peer_id: int, announce: bool = True) -> None:
        self.is_window = is_window_class(cls)
        self.game: Any
        self.session: Session
        config: SessionConfig = getattr(cls, "CONFIG", None) or SessionConfig()
        if not announce:  # it receives the other run's arrival instead (with its input)
            config = dataclasses.replace(config, presence=False)
        self.fps = config.fps
        if self.is_window:
            try:
                # No gossip thread: the checker's time is virtual, and it hands events to
                # the session itself.
                self.game = cls(now=0.0, peer_id=peer_id, config=config, gossip_thread=False)
            except TypeError as exc:
                raise UsageError(
                    f"cannot open {cls.__qualname__}(now=..., peer_id=..., config=..., "
                    f"gossip_thread=...): {exc}; "
                    "a game's __init__ must pass keyword arguments on to SymmetricWindow"
                ) from exc
            self.session = self.game.session
        else:
            self.game = cls()
            self.session = Session(self.game, peer_id=peer_id, config=config, now=0.0)
        self.peer_id = peer_id
        self.drawn_attributes: set[str] = set()
        self._player = RandomPlayer(self.game, self._emitted) if self.is_window else None
        self._seen_seq = 0

    @property
    def inputs(self) -> str:
        """Where input comes from: ``"autopilot"``, ``"random"`` or ``"none"``."""
        if callable(getattr(self.game, AUTOPILOT_METHOD, None)):
            return "autopilot"
        return "random" if self.is_window else "none"

    @property
    def state(self) -> Any:
        """The game's ``state``."""
        return self.game.state

    def now(self, frame: int) -> float:
        """The virtual time of ``frame`` (the middle of tick ``frame``)."""
        return (frame + 0.5) / self.fps

    def frame(self, frame: int) -> bytes:
        """Run real-time frame ``frame`` (tick ``frame``) and return the saved state.

        Raises:
            GameFailure: The game raised, or its state cannot be saved.
        """
        try:
            if self.is_window:
                self.game.step_frame(self.now(frame))
            else:
                self.session.pump(now=self.now(frame))  # no neighbours: nothing to send
            return self.session.app.save_state()
        except Exception as exc:
            state = self.state
            raise GameFailure(frame, exc, unsavable=not _picklable(state), state=state) from exc

    def play(self, frame: int, rng: random.Random) -> list[Event]:
        """Produce this frame's input after ``frame``; returns the events it broadcast.

        Raises:
            GameFailure: The game's input code raised.
        """
        try:
            autopilot = getattr(self.game, AUTOPILOT_METHOD, None)
            if callable(autopilot):
                self._broadcast(autopilot(rng) or (), frame)
            elif self._player is not None:
                self._player.play(frame, rng)
        except Exception as exc:
            raise GameFailure(frame, exc, unsavable=False, state=self.state) from exc
        return self._new_events()

    def deliver(self, event: Event) -> None:
        """Receive ``event`` now, as from the network (late if its tick has run)."""
        self.session.timeline.insert(event)
        self.session.machine.note_event(event)

    def force_rollback(self, depth: int) -> None:
        """Make the next frame roll back ``depth`` ticks and re-simulate to the present."""
        self.session.machine.mark_dirty(self.session.tick - depth)

    def game_attributes(self) -> dict[str, Any]:
        """The game's own plain-data attributes outside ``state`` (where traps hide).

        A window's shared view counts as the game too: its attributes are named by the
        window attribute that holds the view (``game_view.combo``).
        """
        found = _plain_attributes(self.game, "")
        view = self._shared_view()
        if view is not None:
            names = (n for n, v in vars(self.game).items() if v is view and n[0] != "_")
            holder = next(names, "simulation")
            found.update(_plain_attributes(view, f"{holder}."))
        return found

    def watch_draw(self) -> None:
        """Record in :attr:`drawn_attributes` the game attributes ``on_draw`` changes."""
        if not self.is_window:
            return
        for drawer in (self.game, self._shared_view()):
            if drawer is not None:
                self._watch(drawer)

    def _watch(self, drawer: Any) -> None:
        draw = drawer.on_draw

        def on_draw() -> Any:
            before = snapshot(self.game_attributes())
            handled = draw()
            self.drawn_attributes.update(
                diff.path.removeprefix("self.")
                for diff in changed(before, self.game_attributes(), "self")
            )
            return handled

        vars(drawer)["on_draw"] = on_draw  # step_frame calls (view.)on_draw()

    def _shared_view(self) -> Any:
        """The window's shared view, if its simulation hooks are a view's."""
        simulation = getattr(self.game, "simulation", self.game) if self.is_window else None
        return None if simulation is None or simulation is self.game else simulation

    def close(self) -> None:
        """Close the window (and its socket), if any."""
        if self.is_window and not self.game.closed:
            self.game.close()

    def _broadcast(self, pairs: Iterable[tuple[str, Any]], frame: int) -> None:
        for name, payload in pairs:
            if self.is_window:
                self.game.broadcast(name, payload)
            else:
                self.session.emit(name, payload, now=self.now(frame))

    def _emitted(self) -> int:
        log = self.session.timeline.source_log(self.peer_id)
        return 0 if log is None else log.highest

    def _new_events(self) -> list[Event]:
        log = self.session.timeline.source_log(self.peer_id)
        if log is None:
            return []
        fresh = [log.events[seq] for seq in range(self._seen_seq + 1, log.highest + 1)]
        self._seen_seq = log.highest
        return fresh


def _plain_attributes(owner: Any, prefix: str) -> dict[str, Any]:
    return {
        prefix + name: value
        for name, value in vars(owner).items()
        if not name.startswith("_")
        and name not in WINDOW_ATTRIBUTES
        and isinstance(value, PLAIN_DATA)
    }


def snapshot(values: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of named values (those that cannot be copied are left out)."""
    copied = {}
    for name, value in values.items():
        try:
            copied[name] = copy.deepcopy(value)
        except Exception:  # a value that cannot be copied cannot be compared either
            continue
    return copied


def changed(before: dict[str, Any], after: dict[str, Any], owner: str) -> list[FieldDiff]:
    """The values of ``before`` that differ in ``after``, one entry per name."""
    return [
        FieldDiff(f"{owner}.{name}", old, after.get(name))
        for name, old in before.items()
        if diff_states(old, after.get(name), max_diffs=1)
    ]


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # any failure means snapshots of this state are impossible
        return False
    return True
