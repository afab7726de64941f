"""Deterministic pymunk for rollback: a space that pickles canonically and fast.

How this works: a pymunk simulation can live in ``self.state`` because :class:`Space` (a
:class:`pymunk.Space` subclass) pickles into bytes that depend only on the simulation,
never on memory addresses, and restores from them deterministically. Plain
:class:`pymunk.Space` fails the first property: it lists its cached contacts (arbiters) in
the order of a hash set keyed by C pointers, so two peers running bit-identical physics
pickle different bytes and their state hashes disagree. It is also slow: it converts each
arbiter with a scan over every body and shape (quadratic in the number of contacts).

:class:`Space` keeps pymunk's own pickling for the space's settings, collision handlers,
constraints and custom attributes, but not for what a snapshot is mostly made of:

- **Bodies and shapes** of a :class:`Space` pickle as one flat tuple each (type, mass,
  moment, centre of gravity, angle, position, velocities, force and torque; geometry,
  material, filter, mass or density), read and written with direct chipmunk calls, plus
  their custom attributes. pymunk's generic path builds a dictionary of lists of named
  attributes per object and sets each through a Python ``__setattr__``. The encoding is
  registered with :mod:`copyreg` for :class:`pymunk.Body`, :class:`pymunk.Circle`,
  :class:`pymunk.Segment` and :class:`pymunk.Poly`, and applies only to objects whose
  space is a :class:`Space`; any other pymunk object pickles exactly as before. A restored
  object is a plain pymunk object (a private subclass only carries it through
  unpickling), and references to it from elsewhere in the state survive.
- **Arbiters** (cached contacts) are hidden from pymunk's pickling, which lists them in the
  order of a hash set keyed by C pointers (so bit-identical peers would pickle different
  bytes) and converts each with a scan over every shape. :class:`Space` appends compact
  records instead: the positions of the two shapes in :attr:`Space.shapes` (the sort key),
  the arbiter's scalars and its contact array copied as raw bytes (doubles and a hash, no
  pointers). Restoring adds them back as cached arbiters, so contact persistence (warm
  starting) survives a snapshot. pymunk's ``cpSpaceAddCachedArbiter`` would give each
  arbiter its own zeroed 32 KB contact buffer (most of a restore's time); the space's
  stamp is moved while adding so that one buffer is reused, and the contacts live in one
  array the space keeps (same values, so the same physics).
- **No reference cycles.** pymunk's bodies, constraints and collision handlers keep the
  C handle that points back at them, so a dropped world was freed only by the cyclic
  garbage collector, in large, slow batches. A :class:`Space` holds those handles itself
  (and hands them back to an object removed from it), and its collision handlers refer to
  it weakly, so a world the time machine drops is freed at once by reference counting.

A restored space is still not bit-identical to the original (pymunk rebuilds its spatial
index and its solver's cached impulses in a new order); two restores of one snapshot are
identical, though, and the time machine continues every live run from its restored
snapshot, so rollback is exact. What can break determinism is refused early: threaded
spaces raise at construction and sleeping (a finite ``sleep_time_threshold``) raises when
the space is saved. Collision handlers, body velocity/position functions and constraint
callbacks are pickled by reference, so they must be module-level functions (no lambdas, no
closures, no bound methods of objects outside the state); ``CollisionHandler.data`` is
not saved.

This relies on pymunk 6.9 internals (``Space._get_arbiters``, ``cpArbiter`` and
``cpContact`` fields, the time stamp functions of pymunk's chipmunk extension, the private
``_body``/``_shape``/``_space``/``_data_handle``/``_userData`` attributes); arcade 3.3
pins ``pymunk~=6.9.0`` and the tests guard them. Importing this module also removes
pymunk's pass-through ``TypingAttrMixing.__setattr__`` (see :func:`_drop_typing_setattr`).
"""

from __future__ import annotations

import copyreg
import math
import pickle
import weakref
from typing import Any, TypeVar

import pymunk
from pymunk._chipmunk_cffi import ffi, lib
from pymunk._typing_attr import TypingAttrMixing

from arcade_p2p.errors import UsageError

__all__ = ["Space", "new_space"]

T = TypeVar("T")

ARBITERS_KEY = "arcade_p2p_arbiters"
"""Key of the canonical arbiter records in the pickled state (pymunk ignores it)."""

CONTACT_BYTES = ffi.sizeof("struct cpContact")
"""Size of one chipmunk contact (two vectors, seven doubles and a hash value)."""

MAX_CONTACTS_PER_ARBITER = 2
"""Chipmunk's ``CP_MAX_CONTACTS_PER_ARBITER`` (it aborts the process on more)."""

ARBITER_STATES = frozenset(range(5))
"""Values of chipmunk's ``cpArbiterState`` (first collision, normal, ignore, cached,
invalidated)."""

STAMP_RANGE = 2**32
"""Chipmunk's time stamps are unsigned 32-bit integers."""

STAMP_HALF_RANGE = 2**31
"""Stamps further apart than this compare as older in both directions."""

PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
"""Protocol of pymunk's own pickling, for bodies and shapes outside a :class:`Space`."""

DEFAULT_ITERATIONS = 10
"""Solver iterations per step (pymunk's default)."""


ArbiterRecord = tuple[int, int, float, float, float, float, float, float, bool, int, int, bytes]
"""Shape indices a and b, elasticity, friction, surface velocity (x, y), normal (x, y),
swapped, stamp, state, and the raw contact array (plain doubles and a hash, no pointers)."""


class Space(pymunk.Space):
    """A :class:`pymunk.Space` that can be saved and restored inside ``self.state``.

    Use it exactly like :class:`pymunk.Space`. Sleeping stays disabled.

    Args:
        threaded: Must be False; threaded solving is not deterministic.

    Raises:
        UsageError: ``threaded`` is true.
    """

    def __init__(self, threaded: bool = False) -> None:
        self._handles: dict[Any, Any] = {}
        if threaded:
            raise UsageError("a threaded pymunk space is not deterministic; use threaded=False")
        super().__init__(threaded=False)

    def __del__(self) -> None:
        """Run separate callbacks while this space still exists, then detach its handles.

        pymunk removes a freed space's shapes, which calls the separate callbacks of the
        contacts still touching; handlers refer to this space weakly, so that happens
        here, before the reference dies. Bodies and constraints that outlive the space
        lose the handle it held for them (a callback on them then raises instead of
        reading freed memory); adding them to a :class:`Space` gives them a new one.
        """
        handles = self.__dict__.get("_handles", {})
        if any(isinstance(h, _SpaceHandler) and h._separate is not None for h in handles):
            cp_space = self._space
            for shape in list(self._shapes.values()):
                if lib.cpSpaceContainsShape(cp_space, shape._shape):
                    lib.cpSpaceRemoveShape(cp_space, shape._shape)
        for owner in handles:
            if isinstance(owner, pymunk.Body):
                lib.cpBodySetUserData(owner._body, ffi.NULL)
            elif isinstance(owner, pymunk.constraints.Constraint):
                lib.cpConstraintSetUserData(owner._constraint, ffi.NULL)

    def _adopt(self, owner: Any, attribute: str, set_user_data: Any, c_object: Any) -> None:
        """Hold ``owner``'s C handle here instead of in ``owner`` (which made a cycle)."""
        handle = owner.__dict__.pop(attribute, None)
        if handle is None:
            handle = ffi.new_handle(owner)
            set_user_data(c_object, handle)
        self._handles[owner] = handle

    def _release(self, owner: Any, attribute: str) -> None:
        """Give a removed object its handle back."""
        handle = self._handles.pop(owner, None)
        if handle is not None:
            setattr(owner, attribute, handle)

    def _setup_static_body(self, static_body: pymunk.Body) -> None:
        super()._setup_static_body(static_body)
        self._adopt(static_body, "_data_handle", lib.cpBodySetUserData, static_body._body)

    def _add_body(self, body: pymunk.Body) -> None:
        super()._add_body(body)
        self._adopt(body, "_data_handle", lib.cpBodySetUserData, body._body)

    def _remove_body(self, body: pymunk.Body) -> None:
        super()._remove_body(body)
        self._release(body, "_data_handle")

    def _add_constraint(self, constraint: pymunk.constraints.Constraint) -> None:
        super()._add_constraint(constraint)
        self._adopt(constraint, "_data_handle", lib.cpConstraintSetUserData, constraint._constraint)

    def _remove_constraint(self, constraint: pymunk.constraints.Constraint) -> None:
        super()._remove_constraint(constraint)
        self._release(constraint, "_data_handle")

    def add_collision_handler(self, collision_type_a: int, collision_type_b: int) -> Any:
        return self._weakly_held(super().add_collision_handler(collision_type_a, collision_type_b))

    def add_wildcard_collision_handler(self, collision_type_a: int) -> Any:
        return self._weakly_held(super().add_wildcard_collision_handler(collision_type_a))

    def add_default_collision_handler(self) -> Any:
        return self._weakly_held(super().add_default_collision_handler())

    def _weakly_held(self, handler: pymunk.CollisionHandler) -> pymunk.CollisionHandler:
        """Make ``handler`` refer to this space weakly and keep its handle here."""
        if type(handler) is not _SpaceHandler:
            del handler.__dict__["_space"]
            handler.__class__ = _SpaceHandler
            handler._space = self
            self._handles[handler] = handler.__dict__.pop("_userData")
        return handler

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
                self._add_arbiters(records)

    def _arbiter_records(self) -> list[ArbiterRecord]:
        """Every cached arbiter as a compact record, sorted by its shapes' positions."""
        index_of = {shape._shape: index for index, shape in enumerate(self.shapes)}
        records = []
        for arbiter in super()._get_arbiters():
            count = arbiter.count
            records.append(
                (
                    index_of[arbiter.a],
                    index_of[arbiter.b],
                    arbiter.e,
                    arbiter.u,
                    arbiter.surface_vr.x,
                    arbiter.surface_vr.y,
                    arbiter.n.x,
                    arbiter.n.y,
                    arbiter.swapped,
                    arbiter.stamp,
                    arbiter.state,
                    ffi.buffer(arbiter.contacts, count * CONTACT_BYTES)[:],
                )
            )
        records.sort(key=lambda record: (record[0], record[1]))
        return records

    def _add_arbiters(self, records: list[ArbiterRecord]) -> None:
        """Add the saved arbiters back as cached arbiters, contacts and impulses included.

        ``cpSpaceAddCachedArbiter`` gives each arbiter a fresh 32 KB contact buffer
        (zeroed), which was most of a restore's time. Here each call rotates one buffer
        instead (the space's stamp is moved so that the buffer counts as old), the arbiter
        enters with no contacts, and its contacts then point into one array that this
        space keeps. Chipmunk reads the same values as before; only where they live
        differs, and a step moves colliding arbiters' contacts into its own buffers.

        Raises:
            ValueError: A record is malformed (from another process).
        """
        if not records:
            return
        counts = []
        for record in records:
            size = len(record[11])
            if size % CONTACT_BYTES or size > MAX_CONTACTS_PER_ARBITER * CONTACT_BYTES:
                raise ValueError("malformed arbiter contacts")
            if record[10] not in ARBITER_STATES:
                raise ValueError("malformed arbiter state")
            counts.append(size // CONTACT_BYTES)
        contacts = ffi.new("struct cpContact[]", max(sum(counts), 1))
        ffi.memmove(
            contacts, b"".join(record[11] for record in records), sum(counts) * CONTACT_BYTES
        )
        self._restored_contacts = contacts
        cp_space = self._space
        stamp = lib.cpSpaceGetTimestamp(cp_space)
        persistence = lib.cpSpaceGetCollisionPersistence(cp_space)
        # Alternate the stamp between two values further apart than the persistence
        # (both ways, in unsigned arithmetic), ending on the true stamp.
        rotate = persistence < STAMP_HALF_RANGE
        other_stamp = (stamp + persistence + 1) % STAMP_RANGE
        shapes = [shape._shape for shape in self.shapes]
        first = 0
        last = len(records) - 1
        for i, (record, count) in enumerate(zip(records, counts)):
            a, b, e, u, svr_x, svr_y, n_x, n_y, swapped, arbiter_stamp, arbiter_state = record[:11]
            arbiter = lib.cpArbiterNew(shapes[a], shapes[b])
            arbiter.e = e
            arbiter.u = u
            arbiter.surface_vr = (svr_x, svr_y)
            arbiter.n = (n_x, n_y)
            arbiter.swapped = swapped
            arbiter.stamp = arbiter_stamp
            arbiter.state = arbiter_state
            if rotate:
                lib.cpSpaceSetTimestamp(cp_space, stamp if (last - i) % 2 == 0 else other_stamp)
            lib.cpSpaceAddCachedArbiter(cp_space, arbiter)
            arbiter.count = count
            arbiter.contacts = contacts + first
            first += count
        lib.cpSpaceSetTimestamp(cp_space, stamp)


class _SpaceHandler(pymunk.CollisionHandler):
    """A collision handler of a :class:`Space`, which it refers to weakly (no cycle)."""

    _space_ref: weakref.ref[pymunk.Space]

    @property
    def _space(self) -> pymunk.Space:
        space = self._space_ref()
        assert space is not None, "the space of this collision handler was freed"
        return space

    @_space.setter
    def _space(self, space: pymunk.Space) -> None:
        self._space_ref = weakref.ref(space)


def _blank(kind: type[T]) -> T:
    """An uninitialised ``kind``; unpickling then calls its ``__setstate__``."""
    return kind.__new__(kind)


def _custom_attributes(obj: pymunk.Body | pymunk.Shape) -> dict[str, Any] | None:
    """The user's own attributes of a body or shape (pymunk keeps its own under ``_``)."""
    custom = {key: value for key, value in obj.__dict__.items() if key[0] != "_"}
    return custom or None


def _in_space(obj: pymunk.Body | pymunk.Shape) -> bool:
    """Whether ``obj`` belongs to a :class:`Space` (only those use the compact encoding)."""
    return isinstance(obj.space, Space)


def _pymunk_way(obj: pymunk.Body | pymunk.Shape) -> tuple[Any, ...]:
    """How pickle reduces ``obj`` without our registration (pymunk's own ``__getstate__``)."""
    reduced = object.__reduce_ex__(obj, PICKLE_PROTOCOL)
    assert isinstance(reduced, tuple)
    return reduced


def _reduce_body(body: pymunk.Body) -> tuple[Any, ...]:
    """Pickle a body of a :class:`Space` compactly (others the way pymunk does)."""
    if not _in_space(body):
        return _pymunk_way(body)
    cp_body = body._body
    cog = lib.cpBodyGetCenterOfGravity(cp_body)
    position = lib.cpBodyGetPosition(cp_body)
    velocity = lib.cpBodyGetVelocity(cp_body)
    force = lib.cpBodyGetForce(cp_body)
    state = (
        lib.cpBodyGetType(cp_body),
        lib.cpBodyGetMass(cp_body),
        lib.cpBodyGetMoment(cp_body),
        cog.x,
        cog.y,
        lib.cpBodyGetAngle(cp_body),
        position.x,
        position.y,
        velocity.x,
        velocity.y,
        lib.cpBodyGetAngularVelocity(cp_body),
        force.x,
        force.y,
        lib.cpBodyGetTorque(cp_body),
        body._velocity_func,
        body._position_func,
        _custom_attributes(body),
    )
    return _blank, (_RestoredBody,), state


class _RestoredBody(pymunk.Body):
    """A body being unpickled; it becomes a plain :class:`pymunk.Body` in ``__setstate__``."""

    def __setstate__(self, state: Any) -> None:
        (body_type, mass, moment, cog_x, cog_y, angle, x, y, vx, vy, w, fx, fy, torque) = state[:14]
        velocity_func, position_func, custom = state[14:]
        self.__class__ = pymunk.Body  # type: ignore[assignment]
        pymunk.Body.__init__(self, mass, moment, body_type)
        cp_body = self._body
        # The centre of gravity before the angle and the position, so that
        # ``cpBodySetPosition`` places the body's origin where it was.
        lib.cpBodySetCenterOfGravity(cp_body, (cog_x, cog_y))
        lib.cpBodySetAngle(cp_body, angle)
        lib.cpBodySetPosition(cp_body, (x, y))
        lib.cpBodySetVelocity(cp_body, (vx, vy))
        lib.cpBodySetAngularVelocity(cp_body, w)
        lib.cpBodySetForce(cp_body, (fx, fy))
        lib.cpBodySetTorque(cp_body, torque)
        if velocity_func is not None:
            self.velocity_func = velocity_func
        if position_func is not None:
            self.position_func = position_func
        if custom:
            self.__dict__.update(custom)


def _shape_state(shape: pymunk.Shape, geometry: tuple[Any, ...]) -> tuple[Any, ...]:
    """The state every kind of shape shares, after its ``geometry``."""
    cp_shape = shape._shape
    shape_filter = lib.cpShapeGetFilter(cp_shape)
    surface_velocity = lib.cpShapeGetSurfaceVelocity(cp_shape)
    return (
        shape.body,
        geometry,
        bool(lib.cpShapeGetSensor(cp_shape)),
        lib.cpShapeGetCollisionType(cp_shape),
        (shape_filter.group, shape_filter.categories, shape_filter.mask),
        lib.cpShapeGetElasticity(cp_shape),
        lib.cpShapeGetFriction(cp_shape),
        surface_velocity.x,
        surface_velocity.y,
        lib.cpShapeGetMass(cp_shape),
        lib.cpShapeGetDensity(cp_shape),
        _custom_attributes(shape),
    )


def _reduce_circle(shape: pymunk.Circle) -> tuple[Any, ...]:
    """Pickle a circle of a :class:`Space` compactly (others the way pymunk does)."""
    if not _in_space(shape):
        return _pymunk_way(shape)
    offset = lib.cpCircleShapeGetOffset(shape._shape)
    geometry = (lib.cpCircleShapeGetRadius(shape._shape), (offset.x, offset.y))
    return _blank, (_RestoredCircle,), _shape_state(shape, geometry)


def _reduce_segment(shape: pymunk.Segment) -> tuple[Any, ...]:
    """Pickle a segment of a :class:`Space` compactly (others the way pymunk does)."""
    if not _in_space(shape):
        return _pymunk_way(shape)
    cp_shape = shape._shape
    a, b = lib.cpSegmentShapeGetA(cp_shape), lib.cpSegmentShapeGetB(cp_shape)
    geometry = ((a.x, a.y), (b.x, b.y), lib.cpSegmentShapeGetRadius(cp_shape))
    return _blank, (_RestoredSegment,), _shape_state(shape, geometry)


def _reduce_poly(shape: pymunk.Poly) -> tuple[Any, ...]:
    """Pickle a polygon of a :class:`Space` compactly (others the way pymunk does)."""
    if not _in_space(shape):
        return _pymunk_way(shape)
    cp_shape = shape._shape
    vertices = []
    for i in range(lib.cpPolyShapeGetCount(cp_shape)):
        vertex = lib.cpPolyShapeGetVert(cp_shape, i)
        vertices.append((vertex.x, vertex.y))
    geometry = (vertices, None, lib.cpPolyShapeGetRadius(cp_shape))
    return _blank, (_RestoredPoly,), _shape_state(shape, geometry)


def _restore_shape(shape: pymunk.Shape, kind: type[pymunk.Shape], state: Any) -> None:
    """Build a shape being unpickled as a plain ``kind`` (shared by every kind)."""
    body, geometry, sensor, collision_type, shape_filter, elasticity, friction = state[:7]
    svx, svy, mass, density, custom = state[7:]
    shape.__class__ = kind
    kind.__init__(shape, body, *geometry)
    cp_shape = shape._shape
    lib.cpShapeSetSensor(cp_shape, sensor)
    lib.cpShapeSetCollisionType(cp_shape, collision_type)
    lib.cpShapeSetFilter(cp_shape, shape_filter)
    lib.cpShapeSetElasticity(cp_shape, elasticity)
    lib.cpShapeSetFriction(cp_shape, friction)
    lib.cpShapeSetSurfaceVelocity(cp_shape, (svx, svy))
    # Like pymunk: a shape's own mass or density, if it has one, sets its body's mass.
    if mass > 0:
        lib.cpShapeSetMass(cp_shape, mass)
    if density > 0:
        lib.cpShapeSetDensity(cp_shape, density)
    if custom:
        shape.__dict__.update(custom)


class _RestoredCircle(pymunk.Circle):
    """A circle being unpickled; it becomes a plain :class:`pymunk.Circle`."""

    def __setstate__(self, state: Any) -> None:
        _restore_shape(self, pymunk.Circle, state)


class _RestoredSegment(pymunk.Segment):
    """A segment being unpickled; it becomes a plain :class:`pymunk.Segment`."""

    def __setstate__(self, state: Any) -> None:
        _restore_shape(self, pymunk.Segment, state)


class _RestoredPoly(pymunk.Poly):
    """A polygon being unpickled; it becomes a plain :class:`pymunk.Poly`."""

    def __setstate__(self, state: Any) -> None:
        _restore_shape(self, pymunk.Poly, state)
        vertices = state[1][0]
        # The constructor computes a convex hull, which may start at another vertex.
        lib.cpPolyShapeSetVertsRaw(self._shape, len(vertices), vertices)


def _drop_typing_setattr() -> None:
    """Let pymunk objects set attributes at C speed.

    pymunk 6.9's bodies, shapes and constraints inherit a ``__setattr__`` that only calls
    ``super().__setattr__`` (it exists for type checkers); run in Python for each of the
    dozen attributes a new body or shape sets, it was a quarter of a snapshot's restore
    time. Removing it leaves :func:`object.__setattr__`, which does the same.
    """
    if "__setattr__" in TypingAttrMixing.__dict__:
        del TypingAttrMixing.__setattr__


_drop_typing_setattr()
copyreg.pickle(pymunk.Body, _reduce_body)
copyreg.pickle(pymunk.Circle, _reduce_circle)
copyreg.pickle(pymunk.Segment, _reduce_segment)
copyreg.pickle(pymunk.Poly, _reduce_poly)


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
