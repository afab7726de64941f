"""arcade-p2p: share one deterministic Arcade game between peers, with no server.

A game needs only this package and :mod:`arcade_p2p.physics`::

    from arcade_p2p import Event, SymmetricWindow

The core (events, timeline, time machine, clock, protocol, session) is sans-io: it reads
no clock and touches no socket, so the same code runs over real UDP and inside the
virtual-time simulator. ``SymmetricWindow`` and ``SharedView`` (defined in
:mod:`arcade_p2p.window`) are loaded lazily, on first use, so that headless users never
import arcade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arcade_p2p.app import App, StateApp, state_hash
from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import P2PError, RemoteError, UsageError
from arcade_p2p.events import Event
from arcade_p2p.session import Session, SessionConfig, SessionStats

if TYPE_CHECKING:
    from arcade_p2p.window import SharedView, SymmetricWindow

__all__ = [
    "App",
    "ClockMode",
    "Event",
    "P2PError",
    "RemoteError",
    "Session",
    "SessionConfig",
    "SessionStats",
    "SharedView",
    "StateApp",
    "SymmetricWindow",
    "UsageError",
    "state_hash",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Load ``SymmetricWindow`` and ``SharedView`` (and arcade) only when asked for."""
    if name in ("SharedView", "SymmetricWindow"):
        from arcade_p2p import window

        return getattr(window, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
