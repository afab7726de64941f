"""Deterministic pymunk for rollback: a space that pickles canonically and fast.

How this works: a pymunk simulation can live in ``self.state`` because :class:`Space` (a
:class:`pymunk.Space` subclass) pickles into bytes that depend only on the simulation,
never on memory addresses, and restores from them deterministically. Plain
:class:`pymunk.Space` fails the first property: it lists its cached contacts (arbiters) in
the order of a hash set keyed by C pointers, so two peers running bit-identical physics
pickle different bytes and their state hashes disagree. It is also slow: it converts each
arbiter with a scan over every body and shape (quadratic in the number of contacts).

:class:`Space` keeps pymunk's own pickling for bodies, shapes, constraints, collision
handlers and custom attributes, but lists no arbiters there; it appends its own arbiter
records instead, sorted by the positions of their two shapes in :attr:`Space.shapes` and
built with one shape lookup table. Restoring adds them back as cached arbiters, so contact
persistence (warm starting) survives a snapshot.

A restored space is still not bit-identical to the original (pymunk rebuilds its spatial
index and its solver's cached impulses in a new order); two restores of one snapshot are
identical, though, and the time machine continues every live run from its restored
snapshot, so rollback is exact. What can break determinism is refused early: threaded
spaces raise at construction and sleeping (a finite ``sleep_time_threshold``) raises when
the space is saved. Collision handlers, body velocity/position functions and constraint
callbacks are pickled by reference, so they must be module-level functions (no lambdas, no
closures, no bound methods of objects outside the state); ``CollisionHandler.data`` is
not saved.

This relies on pymunk 6.9 internals (``Space._get_arbiters``, ``_contacts_to_dicts``,
``_arbiter_from_dict``); arcade 3.3 pins ``pymunk~=6.9.0`` and the tests guard them.
"""

from __future__ import annotations

import math
from typing import Any

import pymunk
from pymunk._chipmunk_cffi import lib
from pymunk.arbiter import _arbiter_from_dict, _contacts_to_dicts

from arcade_p2p.errors import UsageError

__all__ = ["Space", "new_space"]

ARBITERS_KEY = "arcade_p2p_arbiters"
"""Key of the canonical arbiter records in the pickled state (pymunk ignores it)."""

DEFAULT_ITERATIONS = 10
"""Solver iterations per step (pymunk's default)."""


class Space(pymunk.Space):
    """A :class:`pymunk.Space` that can be saved and restored inside ``self.state``.

    Use it exactly like :class:`pymunk.Space`. Sleeping stays disabled.

    Args:
        threaded: Must be False; threaded solving is not deterministic.

    Raises:
        UsageError: ``threaded`` is true.
    """

    def __init__(self, threaded: bool = False) -> None:
        if threaded:
            raise UsageError("a threaded pymunk space is not deterministic; use threaded=False")
        super().__init__(threaded=False)

    def _get_arbiters(self) -> list[Any]:
        """Hide the arbiters from pymunk's own pickling (they are saved canonically)."""
        return []

    def __getstate__(self) -> dict[str, list[tuple[str, Any]]]:
        """Pymunk's state, with arbiters in canonical order.

        Raises:
            UsageError: Sleeping was enabled.
        """
        if not math.isinf(self.sleep_time_threshold):
            raise UsageError(
                "sleeping bodies break rollback determinism; leave sleep_time_threshold at math.inf"
            )
        state = super().__getstate__()
        state["special"].append((ARBITERS_KEY, self._arbiter_records()))
        return state

    def __setstate__(self, state: dict[str, list[tuple[str, Any]]]) -> None:
        """Restore pymunk's state, then the cached arbiters."""
        super().__setstate__(state)
        for key, records in state["special"]:
            if key == ARBITERS_KEY:
                for record in records:
                    lib.cpSpaceAddCachedArbiter(self._space, _arbiter_from_dict(record, self))

    def _arbiter_records(self) -> list[dict[str, Any]]:
        """Every cached arbiter, as pymunk's arbiter dicts, sorted by shape positions."""
        shapes = self.shapes
        by_pointer = {shape._shape: (index, shape) for index, shape in enumerate(shapes)}
        keyed = []
        for arbiter in super()._get_arbiters():
            index_a, shape_a = by_pointer[arbiter.a]
            index_b, shape_b = by_pointer[arbiter.b]
            record = {
                "a": shape_a,
                "b": shape_b,
                "e": arbiter.e,
                "u": arbiter.u,
                "surface_vr": (arbiter.surface_vr.x, arbiter.surface_vr.y),
                "count": arbiter.count,
                "contacts": _contacts_to_dicts(arbiter.contacts, arbiter.count),
                "n": (arbiter.n.x, arbiter.n.y),
                "swapped": arbiter.swapped,
                "stamp": arbiter.stamp,
                "state": arbiter.state,
            }
            keyed.append(((index_a, index_b), record))
        keyed.sort(key=lambda item: item[0])
        return [record for _, record in keyed]


def new_space(
    gravity: tuple[float, float] = (0.0, 0.0),
    *,
    iterations: int = DEFAULT_ITERATIONS,
    damping: float = 1.0,
) -> Space:
    """A deterministic :class:`Space` with the usual settings in one call.

    Args:
        gravity: Gravity in pixels per second squared, for example ``(0, -900)``.
        iterations: Solver iterations per step.
        damping: Fraction of velocity kept per second (1.0: no damping).

    Returns:
        A new, empty space.
    """
    space = Space()
    space.gravity = gravity
    space.iterations = iterations
    space.damping = damping
    return space
