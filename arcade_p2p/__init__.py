"""arcade-p2p: share one deterministic Arcade game between peers, with no server.

The core (events, timeline, time machine, clock, protocol, session) is sans-io: it reads
no clock and touches no socket, so the same code runs over real UDP and inside the
virtual-time simulator. ``SymmetricWindow`` (in :mod:`arcade_p2p.window`) is imported
lazily so that headless users never load arcade.
"""

from arcade_p2p.app import App, StateApp, state_hash
from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import Event
from arcade_p2p.session import Session, SessionConfig, SessionStats

__all__ = [
    "App",
    "ClockMode",
    "Event",
    "RemoteError",
    "Session",
    "SessionConfig",
    "SessionStats",
    "StateApp",
    "UsageError",
    "state_hash",
]

__version__ = "0.1.0"
