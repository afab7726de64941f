"""The contract between the time machine and a deterministic application.

How this works: the time machine never looks inside the application. It calls
:meth:`App.start` once for tick 0, :meth:`App.tick` once per later tick, :meth:`App.event`
for each event of a tick (after that tick's TICK step), and saves/loads the whole state as
bytes for snapshots. :class:`StateApp` implements the saving for apps that keep
everything in ``self.state``, which is how :class:`~arcade_p2p.window.SymmetricWindow` works,
with a :class:`~arcade_p2p.state_codec.StateCodec`: plain pickle out, and back in through the
restricted decoder that other peers use too, so a state that peers would refuse fails at the
first snapshot, with the path of the offending attribute.

An app may also define ``on_peer_join(peer)`` and ``on_peer_leave(peer)``: the time
machine calls them, inside the simulation, when a peer arrives or leaves (see
:mod:`arcade_p2p.presence`). :class:`StateApp` defines both (doing nothing) and lists the
present peers in :attr:`StateApp.peers`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from arcade_p2p.events import Event
from arcade_p2p.state_codec import StateCodec

if TYPE_CHECKING:
    from arcade_p2p.presence import Presence

__all__ = ["App", "StateApp", "state_hash"]


@runtime_checkable
class App(Protocol):
    """A deterministic simulation the time machine can drive and rewind.

    Optional: ``on_peer_join(peer: int)`` and ``on_peer_leave(peer: int)``, called at the
    tick where a peer arrives or leaves (after that tick's TICK step, in event order).
    """

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

    Subclasses override :meth:`start`, :meth:`tick` and :meth:`event`, and may override
    :meth:`on_peer_join` and :meth:`on_peer_leave`.

    Attributes:
        STATE_MODULES: Modules besides the app class's own whose classes ``self.state``
            may contain (the library's types, pymunk and plain containers are allowed).
        STATE_FUNCTIONS: Module-level functions ``self.state`` refers to, for example
            pymunk collision handlers.
    """

    STATE_MODULES: ClassVar[tuple[str, ...]] = ()
    STATE_FUNCTIONS: ClassVar[tuple[Callable[..., Any], ...]] = ()

    state: Any = None
    _presence: Presence | None = None

    def start(self) -> None:
        """Set ``self.state`` to the initial state."""

    def tick(self) -> None:
        """Advance ``self.state`` by one fixed step."""

    def event(self, event: Event) -> None:
        """Apply ``event`` to ``self.state``."""

    def on_peer_join(self, peer: int) -> None:
        """Peer ``peer`` arrived (deterministic: every peer calls it at the same tick,
        again after a rollback); it is in :attr:`peers` already."""

    def on_peer_leave(self, peer: int) -> None:
        """Peer ``peer`` left, or was noticed gone (deterministic, like
        :meth:`on_peer_join`); it is no longer in :attr:`peers`."""

    @property
    def peers(self) -> tuple[int, ...]:
        """The ids of the peers present at the current tick, ascending (read it in the
        simulation hooks: it is simulation state, rolled back with the rest)."""
        return () if self._presence is None else self._presence.peers

    def bind_presence(self, presence: Presence) -> None:
        """Read :attr:`peers` from ``presence`` (the time machine's; it calls this)."""
        self._presence = presence

    @functools.cached_property
    def codec(self) -> StateCodec:
        """The codec of this app's states (what peers load is decided by the declaring class)."""
        return StateCodec.for_class(self.declaring_class())

    def declaring_class(self) -> type:
        """The class whose module, ``STATE_MODULES`` and ``STATE_FUNCTIONS`` govern the state."""
        return type(self)

    def save_state(self) -> bytes:
        """Pickle ``self.state``.

        Raises:
            UsageError: The state cannot be pickled (the message names the attribute).
        """
        return self.codec.encode(self.state)

    def load_state(self, blob: bytes) -> None:
        """Restore ``self.state`` from a blob this app saved, exactly as peers would load it.

        Raises:
            UsageError: The state holds something other peers would refuse to load.
        """
        self.state = self.codec.decode_local(blob, self.state)

    def load_remote_state(self, blob: bytes) -> None:
        """Replace ``self.state`` with a state from another process (a join, forensics).

        Raises:
            RemoteError: The blob is oversized, malformed or names a class the game does
                not allow; ``self.state`` is unchanged.
        """
        self.state = self.codec.decode(blob)


def state_hash(app: App) -> str:
    """A hex digest of the app's serialized state (equal on peers that agree)."""
    return hashlib.blake2b(app.save_state(), digest_size=16).hexdigest()
