"""Garbage collection while gossip threads run: the program's setup left out of it.

How this works: CPython's cyclic garbage collector holds the interpreter lock while it
runs, so it stops every thread of the process, for a time that grows with the number of
objects it examines. A full (generation 2) collection examines every object that can be
part of a cycle: after importing Arcade, pyglet and arcade-p2p, about 58 000 of them.
While it runs, no event passes through this peer and no frame is drawn. Those objects
live as long as the program, so examining them again and again finds nothing to free.

So while at least one gossip thread runs (:mod:`arcade_p2p.gossip_thread`), the objects
alive when it started are frozen (:func:`gc.freeze`): moved to a permanent generation
that no later collection examines. Each start first runs one full collection, so that
garbage is freed rather than frozen (a one-off pause at load time, before any relaying),
then freezes. A window freezes again when its game loop starts
(:meth:`SymmetricWindow.run <arcade_p2p.window.SymmetricWindow.run>`), after the game's
own setup in its ``__init__``. The last gossip thread to stop unfreezes
(:func:`gc.unfreeze`), so whatever the program dropped meanwhile is collected as usual --
unless the program had frozen objects itself before the first one started, which are left
as they are.

What it costs: an object frozen that later becomes unreachable inside a reference cycle
is only freed after the last gossip thread stops (objects freed by reference counting,
the usual case, are freed at once as always). The collector stays enabled with CPython's
generation thresholds; a program that disabled it (:func:`gc.disable`) is left alone, and
setting :data:`ENABLED` to False before the first gossip thread starts turns freezing off.
``python benchmarks/relay.py --json`` reports the collections during its run and how long
a full collection takes with and without it.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["ENABLED", "enter", "freeze_setup", "leave"]

ENABLED = True
"""Whether gossip threads freeze the objects alive when they start (read at each start)."""


class _Freezer:
    """The process-wide freeze, held while any gossip thread runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._froze = False
        """Whether this freezer froze objects since its first user came."""
        self._program_froze = False
        """Whether the program had frozen objects itself before the first user came."""

    def enter(self) -> None:
        """A gossip thread starts: collect, then freeze everything alive."""
        with self._lock:
            if self._users == 0:
                self._program_froze = gc.get_freeze_count() > 0
            self._users += 1
            self._freeze()

    def freeze_setup(self) -> None:
        """The game's setup is done (its loop starts): freeze what it made, if any gossip
        thread runs."""
        with self._lock:
            if self._users > 0:
                self._freeze()

    def leave(self) -> None:
        """A gossip thread stopped: the last one unfreezes what was frozen."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            if self._froze and not self._program_froze:
                gc.unfreeze()
            self._froze = False

    def _freeze(self) -> None:
        if not ENABLED or not gc.isenabled():
            return
        gc.collect()
        gc.freeze()
        self._froze = True


_freezer = _Freezer()
enter = _freezer.enter
freeze_setup = _freezer.freeze_setup
leave = _freezer.leave
