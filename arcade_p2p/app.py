"""The contract between the time machine and a deterministic application.

How this works: the time machine never looks inside the application. It calls
:meth:`App.start` once for tick 0, :meth:`App.tick` once per later tick, :meth:`App.event`
for each event of a tick (after that tick's TICK step), and saves/loads the whole state as
bytes for snapshots. :class:`StateApp` implements the saving with pickle for apps that keep
everything in ``self.state``, which is how :class:`~arcade_p2p.window.SymmetricWindow` works.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any, Protocol, runtime_checkable

from arcade_p2p.events import Event

__all__ = ["App", "StateApp", "state_hash"]


@runtime_checkable
class App(Protocol):
    """A deterministic simulation the time machine can drive and rewind."""

    def start(self) -> None:
        """Set the initial state (tick 0, START)."""

    def tick(self) -> None:
        """Advance the state by one fixed step."""

    def event(self, event: Event) -> None:
        """Apply one broadcast event at its tick."""

    def save_state(self) -> bytes:
        """Serialize the whole simulation state."""

    def load_state(self, blob: bytes) -> None:
        """Replace the whole simulation state with a saved one."""


class StateApp:
    """Base for apps whose whole simulation state is ``self.state`` (any picklable object).

    Subclasses override :meth:`start`, :meth:`tick` and :meth:`event`.
    """

    state: Any = None

    def start(self) -> None:
        """Set ``self.state`` to the initial state."""

    def tick(self) -> None:
        """Advance ``self.state`` by one fixed step."""

    def event(self, event: Event) -> None:
        """Apply ``event`` to ``self.state``."""

    def save_state(self) -> bytes:
        """Pickle ``self.state``."""
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)

    def load_state(self, blob: bytes) -> None:
        """Unpickle ``self.state``."""
        self.state = pickle.loads(blob)


def state_hash(app: App) -> str:
    """A hex digest of the app's serialized state (equal on peers that agree)."""
    return hashlib.blake2b(app.save_state(), digest_size=16).hexdigest()
