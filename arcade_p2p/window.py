"""SymmetricWindow: an Arcade window whose simulation every peer runs identically.

How this works: a game subclasses :class:`SymmetricWindow` and writes ordinary Arcade
code. The window owns a :class:`~arcade_p2p.session.Session` (behind a private adapter
that presents the window to the time machine as an :class:`~arcade_p2p.app.App`), a
:class:`~arcade_p2p.transport.UdpTransport` and a :class:`~arcade_p2p.runner.PeerRunner`.
Every frame it pumps the runner with the current time -- the ticks that are due (and any
rollback), :meth:`Session.pump_ticks <arcade_p2p.session.Session.pump_ticks>` -- then draws
once. Datagrams are exchanged by the runner's gossip thread meanwhile, so a long frame
never delays what passes through this peer (``gossip_thread=False`` puts the whole driver
step, :meth:`Session.pump <arcade_p2p.session.Session.pump>`, back in the frame). So the
simulation hooks are called only by the time machine:

* ``on_start()`` at tick 0 (START): set ``self.state``;
* ``on_update(delta_time)`` once per tick (TICK), with ``delta_time == 1 / fps`` always,
  including during re-simulation;
* ``on_event(event)`` for each broadcast event, at its tick, after that tick's update;
* ``on_peer_join(peer_id)`` and ``on_peer_leave(peer_id)`` when a peer arrives or leaves
  (see :mod:`arcade_p2p.presence`), at the tick every peer agrees on; ``self.peers`` lists
  the peers present.

``on_draw()`` is called after the pump, once per real-time frame, never during
re-simulation. Input handlers call :meth:`SymmetricWindow.broadcast`. With an autopilot
seed (``--autopilot SEED``), the game's optional ``autopilot(rng)`` hook is called once
per real-time frame, just after the real input, to play by itself through the same
handlers (see :data:`AUTOPILOT_METHOD`).

Arcade's views work the Arcade way. A :class:`SharedView` holds the simulation hooks
instead of the window: once attached (:meth:`SymmetricWindow.attach_view`, or the first
:meth:`~arcade.Window.show_view` of it, before the first frame) the time machine calls
*its* ``on_start``/``on_update``/``on_event``, from tick 0, whichever view is shown. Any
other :class:`arcade.View` is local to this peer (a menu, a lobby, a pause screen): while
it is shown it gets ``on_update`` (real elapsed time) and ``on_draw`` every frame, and
the shared simulation keeps running underneath, because the other peers go on.

Arcade itself also calls ``on_update`` every frame. To keep that call away from the
simulation, :meth:`SymmetricWindow.__init_subclass__` wraps the ``on_update`` a subclass
defines: called by the time machine it runs the subclass's code; called by Arcade it
becomes one frame's pump instead. :meth:`SymmetricWindow.run` owns the loop and the
pacing (frames at the tick rate, sleeping in the transport until the next frame, timer
or datagram), because a headless ``arcade.run()`` is an unpaced busy loop; ``arcade.run()``
still works thanks to the wrapper. Tests step frames directly with
:meth:`SymmetricWindow.step_frame`.

This module (with :mod:`arcade_p2p.drawing`, a helper for ``on_draw``) is the only one
that imports :mod:`arcade`. Headless mode must be chosen before that import;
:meth:`SymmetricWindow.main` re-executes the process with ``ARCADE_HEADLESS=1`` when
``--headless`` is given too late.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import arcade
import pyglet.window

from arcade_p2p import gc_freeze
from arcade_p2p.app import StateApp
from arcade_p2p.cli_support import EXIT_USAGE, CommandLineError, CommandParser
from arcade_p2p.coalesce import Coalescer
from arcade_p2p.desync import DesyncReport
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.hud import HUD_TOGGLE_KEY, Hud, hud_lines
from arcade_p2p.peer_options import (
    DEFAULT_DESYNC_DIR,
    LINGER_S,
    add_autopilot_option,
    add_peer_options,
    add_run_options,
    autopilot_rng,
    peer_options,
    random_peer_id,
    run_max_tick,
)
from arcade_p2p.peer_report import peer_report
from arcade_p2p.runner import PeerRunner, discover_room
from arcade_p2p.session import AUTO_DELAY, Session, SessionConfig
from arcade_p2p.tiling import parse_tile, tile_position
from arcade_p2p.transport import Address, LinkEmulation, UdpTransport
from arcade_p2p.transport.discovery import Discovery

__all__ = ["SharedView", "SymmetricWindow", "WindowlessGame"]

HEADLESS_ENV = "ARCADE_HEADLESS"
"""Environment variable that makes Arcade (and pyglet) headless when set at import."""
DEFAULT_START_DELAY_MS = 100.0
"""Delta of a game's first inputs; then each peer chooses its own (``auto``): on a LAN
local input shows one or two ticks after the key press."""
AUTOPILOT_METHOD = "autopilot"
"""Optional game hook ``autopilot(self, rng: random.Random)``: called once per real-time
frame with ``--autopilot SEED``, after the real input and before the pump, once START has
run, while the session is not joining and (with ``max_tick``) until
:data:`AUTOPILOT_QUIET_S` before the end. It calls the game's own input handlers (or
``broadcast``), so random input travels exactly like a player's, and draws every choice
from ``rng`` (seeded with the seed and the peer id). A game without it gets random arrow
keys and space. ``arcade-p2p check`` uses the same hook."""
AUTOPILOT_KEYS = (
    arcade.key.LEFT,
    arcade.key.RIGHT,
    arcade.key.UP,
    arcade.key.DOWN,
    arcade.key.SPACE,
)
"""Keys the autopilot of a game without an ``autopilot`` hook presses."""
AUTOPILOT_KEY_CHANCE_PER_FRAME = 0.05
"""Chance per frame that the default autopilot presses or releases a key: at 50 fps it
presses one about once a second and holds it about 0.4 s."""
AUTOPILOT_QUIET_S = 1.0
"""With ``max_tick``, the autopilot stops once its input would be stamped less than this
before ``max_tick``, so that its last events reach every peer before the agreed tick."""
SIMULATION_HOOKS = ("on_start", "on_update", "on_event", "on_peer_join", "on_peer_leave")


class _WindowApp(StateApp):
    """Presents a :class:`SymmetricWindow` to the time machine as an App.

    The window cannot be the App itself: pyglet already gives windows an ``event``
    method. ``simulating`` is true exactly while the time machine is inside one of the
    window's simulation hooks.

    Args:
        window: The window whose ``state`` and hooks are used.
        delta_time: Seconds per tick, passed to every ``on_update``.
    """

    def __init__(self, window: SymmetricWindow, delta_time: float) -> None:
        self.window = window
        self.delta_time = delta_time
        self.simulating = False

    @property
    def state(self) -> Any:
        """The window's ``state`` (what snapshots save and restore)."""
        return self.window.state

    @state.setter
    def state(self, value: Any) -> None:
        self.window.state = value

    def declaring_class(self) -> type:
        """The class with the hooks (the shared view's or the window's) declares the state."""
        return type(self.window.simulation)

    def start(self) -> None:
        """START: ``on_start`` of the shared view, or else of the window."""
        self._call(self.window.simulation.on_start)

    def tick(self) -> None:
        """TICK: ``on_update`` with the fixed step."""
        self._call(self.window.simulation.on_update, self.delta_time)

    def event(self, event: Event) -> None:
        """An event at its tick: ``on_event``."""
        self._call(self.window.simulation.on_event, event)

    def on_peer_join(self, peer: int) -> None:
        """A peer arrived: ``on_peer_join``."""
        self._call(self.window.simulation.on_peer_join, peer)

    def on_peer_leave(self, peer: int) -> None:
        """A peer left: ``on_peer_leave``."""
        self._call(self.window.simulation.on_peer_leave, peer)

    def _call(self, hook: Callable[..., Any], *args: Any) -> None:
        self.simulating = True
        try:
            hook(*args)
        finally:
            self.simulating = False


def _tick_step(
    step: Callable[[SymmetricWindow, float], None],
) -> Callable[[SymmetricWindow, float], None]:
    """Wrap a subclass's ``on_update`` so that only the time machine runs it."""

    @functools.wraps(step)
    def on_update(self: SymmetricWindow, delta_time: float) -> None:
        if self._app.simulating:
            step(self, delta_time)
        else:
            SymmetricWindow.on_update(self, delta_time)

    return on_update


def _view_tick_step(
    step: Callable[[SharedView, float], None],
) -> Callable[[SharedView, float], None]:
    """Wrap a shared view's ``on_update``: only the time machine runs it.

    Called by Arcade's own loop it does nothing, and Arcade goes on to the window's
    ``on_update``, which pumps the session.
    """

    @functools.wraps(step)
    def on_update(self: SharedView, delta_time: float) -> None:
        window = self.window
        if isinstance(window, SymmetricWindow) and window._app.simulating:
            step(self, delta_time)

    return on_update


def _refuse_fixed_update(cls: type) -> None:
    if "on_fixed_update" in cls.__dict__:
        raise UsageError(
            f"{cls.__name__}.on_fixed_update would never be called: "
            "on_update already is the fixed step of the shared simulation"
        )


class SymmetricWindow(arcade.Window):
    """An Arcade window that shares its simulation with every peer of a room.

    Subclasses write ``on_start``, ``on_update``, ``on_event`` and ``on_draw``, and call
    :meth:`broadcast` from input handlers. Everything that influences the simulation must
    be in ``self.state`` (any picklable object) or come from events.

    Args:
        width: Window width in pixels (default: the class's ``WIDTH_PX``).
        height: Window height in pixels (default: the class's ``HEIGHT_PX``).
        title: Window title (default: the class name).
        peer_id: This peer's id, unique in the room (default: random).
        config: Settings every peer of the room must share (default: the class's
            ``CONFIG``).
        host: IPv4 address to bind (``"0.0.0.0"`` to be reachable on a LAN).
        port: UDP port to bind (0: any free port; see :attr:`address`).
        peers: Addresses of peers to dial, as ``(ip, port)``.
        max_tick: If given, never simulate past this tick.
        show_info: Start with the heads-up display of session figures shown (F3 toggles
            it; it shows a desync too, once one is found).
        emulation: Optional emulated latency/loss on received datagrams.
        discover: Find peers of the room on the LAN and dial them (the command line
            turns it on unless ``--no-discover``); joining a running room found this way
            is the same as joining with ``peers``.
        now: ``time.monotonic()`` at which tick 0 is due (default: now).
        autopilot: If given, the seed of the autopilot (see :data:`AUTOPILOT_METHOD`;
            None: no autopilot).
        gossip_thread: Relay, answer and run the protocol timers on a background thread,
            so that a long frame never delays them (False: everything on the game's
            thread, once per frame; tests that step time by hand use it).
        desync_dir: Folder where desync forensics bundles are written (None: not written).
        **window_options: Passed on to :class:`arcade.Window`.

    Attributes:
        session: This peer's :class:`~arcade_p2p.session.Session` (``peer_id``,
            ``stats()``, ``state_hash()``, ``timeline``); read it outside the simulation.
        show_info: Whether the heads-up display is shown (F3 toggles it).

    Raises:
        UsageError: A setting is invalid or the UDP address cannot be bound (the window
            is closed again).
    """

    WIDTH_PX = 800
    HEIGHT_PX = 600
    CONFIG = SessionConfig(delay_ms=AUTO_DELAY, auto_start_ms=DEFAULT_START_DELAY_MS)
    """The game's session settings (Delta: ``auto``, starting at 100 ms); the command line
    overrides fps, Delta, clock and room.
    Every peer of a room must use the same (a pymunk game also depends on the snapshot
    period, because the live run continues from each snapshot)."""

    STATE_MODULES: tuple[str, ...] = ()
    """Modules besides the game's own whose classes ``state`` may contain."""
    STATE_FUNCTIONS: tuple[Callable[..., Any], ...] = ()
    """Module-level functions ``state`` refers to (pymunk collision handlers, ...)."""

    state: Any = None
    """The whole simulation state; set it in :meth:`on_start`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Take over the update dispatch of a game class (see the module docstring).

        Raises:
            UsageError: The class defines ``on_fixed_update``, which is never called
                (``on_update`` already is the fixed step).
        """
        super().__init_subclass__(**kwargs)
        _refuse_fixed_update(cls)
        if "on_update" in cls.__dict__:
            cls.on_update = _tick_step(cls.__dict__["on_update"])  # type: ignore[method-assign,assignment]

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        title: str | None = None,
        *,
        peer_id: int | None = None,
        config: SessionConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        peers: Sequence[Address] = (),
        max_tick: int | None = None,
        show_info: bool = False,
        emulation: LinkEmulation | None = None,
        discover: bool = False,
        now: float | None = None,
        autopilot: int | None = None,
        gossip_thread: bool = True,
        desync_dir: str | Path | None = DEFAULT_DESYNC_DIR,
        **window_options: Any,
    ) -> None:
        config = config or self.CONFIG
        config.validate()
        super().__init__(
            width or self.WIDTH_PX,
            height or self.HEIGHT_PX,
            title or type(self).__name__,
            **window_options,
        )
        self._hud = Hud(visible=show_info)
        self.push_handlers(on_key_press=self._hud_key)
        self._app = _WindowApp(self, 1.0 / config.fps)
        self._shared_view: SharedView | None = None
        self._coalesced: list[tuple[str, Coalescer[Any]]] = []
        self._last_frame_at: float | None = None
        with contextlib.ExitStack() as undo_if_failed:
            undo_if_failed.callback(super().close)
            self._transport = UdpTransport(host, port, emulation=emulation)
            undo_if_failed.callback(self._transport.close)
            origin = time.monotonic() if now is None else now
            self.session = Session(
                self._app,
                peer_id=random_peer_id() if peer_id is None else peer_id,
                config=config,
                now=origin,
            )
            self._discovery: Discovery | None = None
            if discover:
                self._discovery = discover_room(self.session, self._transport, now=origin)
            undo_if_failed.pop_all()
        self._now = self._next_frame_at = origin
        for address in peers:
            self.session.add_peer(address, now=origin)
        self.session.on_desync = self.on_desync
        self._runner = PeerRunner(
            self.session,
            self._transport,
            max_tick=max_tick,
            discovery=self._discovery,
            gossip_thread=gossip_thread,
            desync_dir=None if desync_dir is None else Path(desync_dir),
        )
        self._autopilot_rng = (
            None if autopilot is None else autopilot_rng(autopilot, self.session.peer_id)
        )
        self._autopilot_key: int | None = None
        self._setup_frozen = False

    # ------------------------------------------------------------ game hooks
    def on_start(self) -> None:
        """START (tick 0): set ``self.state`` to the initial state, deterministically."""

    def on_update(self, delta_time: float) -> None:
        """TICK: advance ``self.state`` by one fixed step of ``delta_time == 1 / fps``.

        A subclass's ``on_update`` is only ever called by the time machine. When Arcade's
        own loop calls ``on_update``, it pumps the session instead.
        """
        if not self._app.simulating:
            self._pump(time.monotonic())

    def on_event(self, event: Event) -> None:
        """Apply a broadcast event to ``self.state``, at its tick.

        Args:
            event: The event; ``event.source`` is the id of the peer that broadcast it.
        """

    def on_peer_join(self, peer_id: int) -> None:
        """A peer arrived: every peer calls this at the same tick (after that tick's
        update, in event order), and again after a rollback, like ``on_event``. Spawn its
        player in ``self.state`` here; it is in :attr:`peers` already.

        Args:
            peer_id: The peer's id (``event.source`` of its events).
        """

    def on_peer_leave(self, peer_id: int) -> None:
        """A peer left: it stopped cleanly, or its neighbours noticed it gone (silent for
        the link timeout). Deterministic like :meth:`on_peer_join`; it is no longer in
        :attr:`peers`. A peer noticed gone by mistake comes back with a new join.

        Args:
            peer_id: The peer's id.
        """

    @property
    def peers(self) -> tuple[int, ...]:
        """The ids of the peers present at the current tick, ascending (simulation state:
        read it in the simulation hooks or in ``on_draw``)."""
        return self._app.peers

    def _random_keys(self, rng: random.Random) -> None:
        """The autopilot of a game that defines none: random arrow keys and space.

        About once a second it presses a key, and releases it about 0.4 s later, through
        ``on_key_press`` and ``on_key_release``.
        """
        if rng.random() >= AUTOPILOT_KEY_CHANCE_PER_FRAME:
            return
        if self._autopilot_key is None:
            self._autopilot_key = rng.choice(AUTOPILOT_KEYS)
            self.on_key_press(self._autopilot_key, 0)
        else:
            self.on_key_release(self._autopilot_key, 0)
            self._autopilot_key = None

    def on_desync(self, report: DesyncReport) -> None:
        """A neighbour simulated the same events into a different state (a real desync).

        Called once per disagreeing neighbour, outside the simulation, after the WARNING
        log line. Override it to react (the session figures drawn with ``show_info``
        already show it; ``self.session.desync`` holds the first report). A forensics
        bundle follows in ``desync_dir`` once the neighbour's state has been fetched;
        ``arcade-p2p replay BUNDLE`` replays it.

        Args:
            report: What disagrees: the tick, both peers and both state hashes.
        """

    # ------------------------------------------------------------ views
    @property
    def simulation(self) -> SymmetricWindow | SharedView:
        """Whose simulation hooks the time machine calls: the shared view, or the window."""
        return self._shared_view if self._shared_view is not None else self

    def attach_view(self, view: SharedView) -> None:
        """Make ``view`` run the shared simulation from tick 0, without showing it.

        Call it in ``__init__`` (before the first frame), then show a local view first
        (a menu, a lobby) and the shared view later; the simulation runs all along.

        Args:
            view: The game's one shared view.

        Raises:
            UsageError: The window already has another shared view, the first frame has
                run, or the window defines simulation hooks of its own.
        """
        if view is self._shared_view:
            return
        if self._shared_view is not None:
            raise UsageError(
                f"{type(self).__name__} already runs the simulation of a "
                f"{type(self._shared_view).__name__}; a window has one shared view (show "
                "that same instance again, and use plain arcade.View for local screens)"
            )
        if self.session.tick > 0:
            raise UsageError(
                f"{type(view).__name__} was attached after the first frame; attach the "
                "shared view in the window's __init__ (self.attach_view(view)) so that "
                "every peer runs its on_start at tick 0"
            )
        own = sorted(
            hook
            for cls in type(self).__mro__
            if issubclass(cls, SymmetricWindow) and cls is not SymmetricWindow
            for hook in SIMULATION_HOOKS
            if hook in cls.__dict__
        )
        if own:
            raise UsageError(
                f"{type(self).__name__} defines {', '.join(own)} and shares "
                f"{type(view).__name__}: write the simulation hooks in one place, the view"
            )
        view.window = self
        self._shared_view = view

    def show_view(self, new_view: arcade.View) -> None:
        """Show a view: a :class:`SharedView` is attached first (see :meth:`attach_view`).

        Any other view is local to this peer: it gets ``on_update`` with the real elapsed
        time and ``on_draw`` every frame while the simulation runs on underneath.

        Args:
            new_view: The view to show.

        Raises:
            UsageError: ``new_view`` is a shared view that cannot be attached, or a plain
                view with simulation hooks (``on_start``, ``on_event``) that would never
                be called.
        """
        if isinstance(new_view, SharedView):
            self.attach_view(new_view)
        else:
            hooks = [hook for hook in ("on_start", "on_event") if hasattr(new_view, hook)]
            if hooks:
                raise UsageError(
                    f"{type(new_view).__name__} defines {' and '.join(hooks)} but is a plain "
                    "arcade.View, which is local to this peer and never simulated: subclass "
                    "arcade_p2p.SharedView for the shared game"
                )
        super().show_view(new_view)

    # ------------------------------------------------------------ local side
    @property
    def address(self) -> Address:
        """The ``(ip, port)`` this peer listens on (give it to the others' ``--peer``)."""
        return self._transport.address

    @property
    def finished(self) -> bool:
        """Whether ``max_tick`` is set and has been simulated with every event that has
        arrived so far (see :attr:`PeerRunner.finished`)."""
        return self._runner.finished

    @property
    def show_info(self) -> bool:
        """Whether the heads-up display is shown (F3 toggles it)."""
        return self._hud.visible

    @show_info.setter
    def show_info(self, value: bool) -> None:
        self._hud.visible = value

    def broadcast(self, name: str, payload: Any = None) -> Event:
        """Send an event to every peer, this one included; it applies at its stamped tick.

        Call it from input handlers (never from the simulation hooks).

        Args:
            name: Event name, for example ``"key"`` (names starting with ``"@"`` are
                reserved).
            payload: msgpack-able data (None, bool, int, float, str, bytes, lists, dicts).

        Returns:
            The stamped event. While this peer is still joining the event is held until
            it is in step: its tick is then :data:`~arcade_p2p.session.HELD_TICK` (-1).

        Raises:
            UsageError: Called from a simulation hook, or the event cannot be sent.
        """
        if self._app.simulating:
            raise UsageError(
                "broadcast() was called from on_start/on_update/on_event; the simulation "
                "must not emit events (it runs again on rollback). Broadcast from input "
                "handlers instead."
            )
        return self._runner.emit(name, payload, now=self._now)

    def coalesce(self, name: str, rate_hz: float) -> Coalescer[Any]:
        """An input stream broadcast as ``name`` events, at most ``rate_hz`` per second.

        Offer values from an input handler (``aim.offer([x, y])`` in ``on_mouse_motion``);
        every frame the window broadcasts the newest value offered, when the rate allows
        and it changed since the last one sent.

        Args:
            name: Event name of the broadcasts.
            rate_hz: Most events per second.

        Returns:
            The :class:`~arcade_p2p.coalesce.Coalescer` to offer values to.
        """
        coalescer: Coalescer[Any] = Coalescer(rate_hz)
        self._coalesced.append((name, coalescer))
        return coalescer

    def step_frame(self, now: float) -> int:
        """One real-time frame: handle input, pump the session at ``now``, draw, present.

        Args:
            now: The current ``time.monotonic()`` (or a test's stand-in for it).

        Returns:
            How many live ticks ran.
        """
        self._now = now  # input handlers broadcast with this frame's time
        self._make_current()
        self.dispatch_events()
        if self.closed:
            return 0
        self._drive_autopilot()
        ran = self._pump(now)
        self._next_frame_at = self.session.next_tick_time(now)
        self._update_local_view(now)
        view = self.current_view
        if view is None or not view.on_draw():  # as in Arcade: the view, then the window
            self.on_draw()
        if self._hud.visible:
            self._hud.draw(hud_lines(self.session, now=now), window_height=self.height)
        self.flip()
        return ran

    def run(  # type: ignore[override]
        self, seconds: float | None = None, *, linger_s: float | None = None
    ) -> None:
        """Run the game until the window closes (or for ``seconds``), paced by the ticks.

        A frame is drawn when a tick becomes due; between frames the loop sleeps in the
        transport, waking early for datagrams and protocol timers. The first call leaves
        the objects alive now (the game's setup) out of garbage collection while the
        gossip thread runs (see :mod:`arcade_p2p.gc_freeze`).

        Args:
            seconds: Stop after this many seconds of wall time (None: no limit).
            linger_s: With ``max_tick``, stop this many seconds after simulating it (the
                peer keeps repairing late events meanwhile); None: keep the window open.
        """
        if not self._setup_frozen:  # the game's own setup is done: see arcade_p2p.gc_freeze
            self._setup_frozen = True
            gc_freeze.freeze_setup()
        deadline = math.inf if seconds is None else time.monotonic() + seconds
        while not self.closed:
            now = time.monotonic()
            if now >= deadline or (linger_s is not None and self._runner.lingered(now, linger_s)):
                return
            if now >= self._next_frame_at:
                self.step_frame(now)
            else:
                self._pump(now)
            if not self.closed:
                wakeup = min(self._runner.next_wakeup(now), self._next_frame_at, deadline)
                self._runner.wait(wakeup - time.monotonic())

    def save_screenshot(self, path: str) -> None:
        """Draw the current state once more (without the heads-up display) and save it.

        Args:
            path: Where the image goes; the format follows the suffix (``.png``).
        """
        self._make_current()
        self.on_draw()
        arcade.get_image(0, 0, *self.get_framebuffer_size()).save(path)

    def close(self) -> None:
        """Announce this peer's departure, then close the window, its gossip thread, UDP
        socket and LAN discovery."""
        self._runner.close()
        if self._discovery is not None:
            self._discovery.close()
        self._transport.close()
        super().close()

    def _drive_autopilot(self) -> None:
        if self._autopilot_rng is None or self.session.joining or self.session.tick == 0:
            return  # no autopilot before START has run, nor while joining
        max_tick = self._runner.max_tick
        if max_tick is not None:
            config = self.session.config
            quiet_ticks = round(AUTOPILOT_QUIET_S * config.fps) + config.delta_ticks
            if self.session.tick >= max_tick - quiet_ticks:
                return
        self._play(self._autopilot_rng)

    def _play(self, rng: random.Random) -> None:
        """One frame of the autopilot: the game's own hook, or else random keys."""
        autopilot = getattr(self, AUTOPILOT_METHOD, None)  # optional game hook
        if callable(autopilot):
            autopilot(rng)
        else:
            self._random_keys(rng)

    def _update_local_view(self, now: float) -> None:
        """Give a shown local view its real-time ``on_update`` (a shared view's is a tick)."""
        elapsed = self._app.delta_time if self._last_frame_at is None else now - self._last_frame_at
        self._last_frame_at = now
        view = self.current_view
        if view is not None and not isinstance(view, SharedView):
            view.on_update(elapsed)

    def _pump(self, now: float) -> int:
        self._now = now
        for name, coalescer in self._coalesced:
            send, value = coalescer.release(now=now)
            if send:
                self.broadcast(name, value)
        return self._runner.pump(now)

    def _make_current(self) -> None:
        """Direct drawing to this window (several windows may share a process)."""
        try:
            current = arcade.get_window()
        except RuntimeError:  # no current window
            current = None
        if current is not self:
            self.switch_to()
            arcade.set_window(self)

    def _hud_key(self, symbol: int, modifiers: int) -> bool:
        """Pushed key handler: F3 toggles the heads-up display; other keys go on."""
        if symbol == HUD_TOGGLE_KEY:
            self._hud.toggle()
            return True  # handled: the game never sees F3
        return False

    # ------------------------------------------------------------ command line
    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> None:
        """Parse the command line, open the window, run it and print a report.

        The first line printed is ``listening on HOST:PORT`` (on stderr with ``--json``,
        whose only output on stdout is the JSON report). With ``--seconds`` or
        ``--max-tick`` every peer stops at the same agreed tick and reports its state
        hash there. A mistake on the command line prints one line and exits with code 2.

        Args:
            argv: Arguments (default: ``sys.argv[1:]``).
        """
        parser = _argument_parser(cls)
        try:
            args = parser.parse_args(argv)
            _choose_display(args.headless, may_restart=argv is None)
            max_tick = run_max_tick(args)
            tile = _tile(args.tile)
            for flag, size in (("--width", args.width), ("--height", args.height)):
                if size < 1:
                    raise UsageError(f"{flag} must be a number of pixels >= 1, got {size}")
            options = peer_options(args, cls.CONFIG)
            try:
                window = cls(
                    args.width,
                    args.height,
                    peer_id=options.peer_id,
                    config=options.config,
                    host=options.host,
                    port=options.port,
                    peers=options.peers,
                    max_tick=max_tick,
                    show_info=args.info,
                    emulation=options.emulation,
                    discover=options.discover,
                    autopilot=args.autopilot,
                    desync_dir=options.desync_dir,
                )
            except Exception as exc:
                if isinstance(exc, _no_display_errors()):
                    raise UsageError(f"{NO_DISPLAY} ({exc})") from None
                raise
        except UsageError as exc:
            line = str(exc) if isinstance(exc, CommandLineError) else f"{parser.prog}: error: {exc}"
            print(line, file=sys.stderr)
            sys.exit(EXIT_USAGE)
        if tile is not None and not arcade.headless:
            screen = window.display.get_default_screen()
            size = (screen.width, screen.height)
            window.set_location(*tile_position(*tile, screen=size, window=window.get_size()))
        _run_and_report(window, args, max_tick)


class SharedView(arcade.View):
    """An Arcade view whose hooks are the shared simulation of a :class:`SymmetricWindow`.

    Write it like the window's hooks: ``on_start`` sets ``self.state``, ``on_update`` is
    the fixed step (never Arcade's frame update), ``on_event`` applies a broadcast event;
    ``on_draw`` and the input handlers are ordinary view methods that run in real time
    while the view is shown. ``self.state`` is the window's state, and the time machine
    calls these hooks whether or not the view is shown (other peers go on playing while
    this one looks at a menu). Attach it with :meth:`SymmetricWindow.attach_view` or by
    showing it before the first frame.

    Attributes:
        STATE_MODULES: Modules besides the view's own whose classes ``state`` may contain.
        STATE_FUNCTIONS: Module-level functions ``state`` refers to.
    """

    STATE_MODULES: tuple[str, ...] = ()
    STATE_FUNCTIONS: tuple[Callable[..., Any], ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make ``on_update`` the fixed step only (see :class:`SymmetricWindow`).

        Raises:
            UsageError: The class defines ``on_fixed_update``, which is never called.
        """
        super().__init_subclass__(**kwargs)
        _refuse_fixed_update(cls)
        if "on_update" in cls.__dict__:
            cls.on_update = _view_tick_step(cls.__dict__["on_update"])  # type: ignore[method-assign,assignment]

    @property
    def shared_window(self) -> SymmetricWindow:
        """The :class:`SymmetricWindow` whose simulation this view runs.

        Raises:
            UsageError: The view is on a plain :class:`arcade.Window`.
        """
        if not isinstance(self.window, SymmetricWindow):
            raise UsageError(
                f"{type(self).__name__} is a SharedView: show it on a SymmetricWindow "
                f"(it is on a {type(self.window).__name__})"
            )
        return self.window

    @property
    def state(self) -> Any:
        """The whole simulation state (the window's ``state``); set it in ``on_start``."""
        return self.shared_window.state

    @state.setter
    def state(self, value: Any) -> None:
        self.shared_window.state = value

    @property
    def session(self) -> Session:
        """The window's :class:`~arcade_p2p.session.Session` (read it outside the hooks)."""
        return self.shared_window.session

    def broadcast(self, name: str, payload: Any = None) -> Event:
        """Send an event to every peer, this one included (see
        :meth:`SymmetricWindow.broadcast`).

        Args:
            name: Event name.
            payload: msgpack-able data.

        Returns:
            The stamped event.

        Raises:
            UsageError: Called from a simulation hook, or the event cannot be sent.
        """
        return self.shared_window.broadcast(name, payload)

    def on_start(self) -> None:
        """START (tick 0): set ``self.state`` to the initial state, deterministically."""

    def on_update(self, delta_time: float) -> bool | None:
        """TICK: advance ``self.state`` by one fixed step of ``delta_time == 1 / fps``."""
        return None

    def on_event(self, event: Event) -> None:
        """Apply a broadcast event to ``self.state``, at its tick."""

    def on_peer_join(self, peer_id: int) -> None:
        """A peer arrived (see :meth:`SymmetricWindow.on_peer_join`)."""

    def on_peer_leave(self, peer_id: int) -> None:
        """A peer left (see :meth:`SymmetricWindow.on_peer_leave`)."""

    @property
    def peers(self) -> tuple[int, ...]:
        """The ids of the peers present at the current tick (the window's ``peers``)."""
        return self.shared_window.peers


NO_DISPLAY = "no display to open a window on: add --headless, or set DISPLAY"


class _SessionEmitter:
    """What a window-less game's ``broadcast`` goes through: its session, directly."""

    max_tick = None

    def __init__(self, session: Session) -> None:
        self.session = session

    def emit(self, name: str, payload: Any = None, *, now: float) -> Event:
        return self.session.emit(name, payload, now=now)


class WindowlessGame:
    """A :class:`SymmetricWindow` game without its window: its simulation and its input.

    This is how the simulator (``arcade-p2p sim --app``) runs a window game on many
    simulated peers in one process. The game class is instantiated *without* running
    ``__init__`` (no window, no socket, no OpenGL context), so only what needs no window
    works: the simulation hooks (``on_start``, ``on_update``, ``on_event``) through
    :attr:`app`, and input code that reads ``state`` and ``session`` and calls
    ``broadcast`` or input handlers that do (an ``autopilot`` hook, or else the random
    keys of the window's autopilot), through :meth:`play`. An attribute that
    ``__init__`` would have set is missing: give it a class-level default.

    Args:
        cls: The game class.
        fps: Ticks per second (``on_update`` gets ``1 / fps``).

    Raises:
        UsageError: The class defines no simulation hook of its own (a game whose
            simulation lives in a :class:`SharedView` needs its window to attach it).
    """

    def __init__(self, cls: type[SymmetricWindow], fps: int) -> None:
        own_hooks = [
            hook
            for klass in cls.__mro__[: cls.__mro__.index(SymmetricWindow)]
            for hook in SIMULATION_HOOKS
            if hook in vars(klass)
        ]
        if not own_hooks:
            raise UsageError(
                f"{cls.__qualname__} defines no on_start/on_update/on_event: a game whose "
                "simulation lives in a SharedView cannot run without its window"
            )
        game = cls.__new__(cls)  # no __init__: no window, socket or OpenGL context
        game._app = _WindowApp(game, 1.0 / fps)
        game._shared_view = None
        game._autopilot_key = None
        game._now = 0.0
        self.game = game
        self.app: StateApp = game._app
        """The game's simulation, as the time machine drives it."""

    def attach(self, session: Session) -> None:
        """Give the game its session (``self.session``; ``broadcast`` emits through it)."""
        self.game.session = session
        self.game._runner = _SessionEmitter(session)  # type: ignore[assignment]

    def play(self, rng: random.Random, *, now: float) -> None:
        """One frame of the game's autopilot at ``now`` (its ``broadcast`` s are stamped then).

        Raises:
            UsageError: The autopilot needs an attribute that only ``__init__`` sets.
        """
        self.game._now = now
        try:
            self.game._play(rng)
        except AttributeError as exc:
            raise UsageError(
                f"{type(self.game).__qualname__}'s autopilot cannot run without a window: "
                f"{exc} (give that attribute a class-level default)"
            ) from exc


def _choose_display(headless: bool, *, may_restart: bool) -> None:
    """Make sure a window can open: headless as asked, or a display to draw on.

    Headless mode must be chosen before arcade is imported, so ``--headless`` given too
    late re-executes the process with ``ARCADE_HEADLESS=1`` (when it may).

    Raises:
        UsageError: ``--headless`` cannot take effect, or there is no display.
    """
    if headless and not arcade.headless:
        if not may_restart or os.environ.get(HEADLESS_ENV):
            raise UsageError(f"--headless needs {HEADLESS_ENV}=1 before arcade is imported")
        os.execve(
            sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, HEADLESS_ENV: "1"}
        )
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not arcade.headless and sys.platform.startswith("linux") and no_display:
        raise UsageError(NO_DISPLAY)


def _no_display_errors() -> tuple[type[BaseException], ...]:
    """The exceptions pyglet raises when its display cannot be reached."""
    errors: list[type[BaseException]] = [pyglet.window.NoSuchDisplayException]
    xlib = sys.modules.get("pyglet.display.xlib")
    if xlib is not None:
        errors.append(xlib.NoSuchDisplayException)
    return tuple(errors)


def _run_and_report(
    window: SymmetricWindow, args: argparse.Namespace, max_tick: int | None
) -> None:
    """Run a window opened from the command line, then print its report and close it."""
    host, port = window.address
    print(f"listening on {host}:{port}", file=sys.stderr if args.json else sys.stdout, flush=True)
    if not args.json:
        print(f"peer {window.session.peer_id}, room {args.room!r}", flush=True)
    try:
        window.run(linger_s=None if max_tick is None else LINGER_S)
        if args.screenshot is not None and not window.closed:
            window.save_screenshot(args.screenshot)
        if args.json:
            report = peer_report(
                window.session,
                window._transport,
                window._discovery,
                -1 if max_tick is None else max_tick,
            )
            print(report.to_json(), flush=True)
        else:
            stats = window.session.stats()
            print(
                f"tick {stats.tick - 1} state {window.session.state_hash()} events "
                f"{stats.events} rollbacks {stats.rollbacks} ({stats.rollback_ticks} ticks)",
                flush=True,
            )
    except KeyboardInterrupt:
        pass
    finally:
        if not window.closed:
            window.close()


def _tile(text: str | None) -> tuple[int, int] | None:
    """``--tile INDEX/COUNT`` parsed (None when not given).

    Raises:
        UsageError: The value is not ``INDEX/COUNT`` with ``0 <= INDEX < COUNT``.
    """
    if text is None:
        return None
    try:
        return parse_tile(text)
    except ValueError:
        raise UsageError(
            f"--tile must be INDEX/COUNT with 0 <= INDEX < COUNT, got {text!r}"
        ) from None


def _argument_parser(cls: type[SymmetricWindow]) -> argparse.ArgumentParser:
    module: str | None = cls.__module__
    if module == "__main__":  # run as ``python -m NAME`` or as a script
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else None
    prog = None if module is None else f"python -m {module}"
    parser = CommandParser(
        prog=prog,
        description=f"{cls.__name__}: a shared arcade-p2p game. "
        "The first line printed is 'listening on HOST:PORT' (on stderr with --json).",
    )
    add_peer_options(parser, cls.CONFIG)
    add_autopilot_option(parser)
    parser.add_argument(
        "--width", type=int, default=cls.WIDTH_PX, metavar="PX", help="window width in pixels"
    )
    parser.add_argument(
        "--height", type=int, default=cls.HEIGHT_PX, metavar="PX", help="window height in pixels"
    )
    parser.add_argument("--headless", action="store_true", help="no display (offscreen rendering)")
    add_run_options(parser, seconds=None)
    parser.add_argument(
        "--info", action="store_true", help="start with the heads-up display shown (F3 toggles)"
    )
    parser.add_argument(
        "--screenshot",
        metavar="PATH",
        default=None,
        help="save the final frame as PNG (default: none)",
    )
    parser.add_argument(
        "--tile",
        metavar="INDEX/COUNT",
        default=None,
        help="place the window in cell INDEX (0-based) of COUNT windows tiling the screen "
        "(default: where the window system puts it)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print only the report at the end, as one JSON object (with the state hash)",
    )
    return parser
