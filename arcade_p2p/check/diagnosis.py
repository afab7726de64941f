"""Naming the cause of a divergence from what the checker saw.

How this works: :func:`diagnose` turns the :class:`Evidence` of a failed check into one
line of cause and a few hints, most specific first. Which run diverged says a lot: the
rollback run before any rollback means something that changes from run to run in one
process (module-level ``random``, wall-clock time, globals); after a rollback, something a
rollback does not restore (window attributes outside ``self.state``, values ``on_draw``
computes); only the second process, the hash seed (set order of strings, ``id()``). The
evidence adds names: window attributes and module globals that changed during the run,
the module-level random generator having moved, floats that are clock readings taken
during the check, and a
scan of the state for sets of strings, lambdas and sleeping pymunk spaces.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from arcade_p2p.check.driver import GameFailure
from arcade_p2p.statediff import FieldDiff, state_fields

__all__ = ["CLOCKS", "Evidence", "clock_readings", "diagnose", "scan_state"]

CLOCKS = {
    "time.time()": time.time,
    "time.monotonic()": time.monotonic,
    "time.perf_counter()": time.perf_counter,
}
"""Clocks whose readings the diagnosis recognises: a float between this clock's reading at
the start of the check and now was most likely read from it during the check."""
MAX_SCAN_OBJECTS = 100_000
"""The state scan stops after this many objects (a huge state still gets a verdict)."""
MAX_NAMED = 3
"""How many attributes or paths one hint names."""


@dataclass(slots=True)
class Evidence:
    """What the checker observed (see :func:`diagnose`)."""

    run: str | None
    tick: int | None
    diff: list[FieldDiff]
    rollbacks: list[Any]
    failure: GameFailure | None = None
    failed_run: str = ""
    worker_failure: tuple[int, str, bool] | None = None
    worker_note: str | None = None
    hash_seed: str | None = None
    attributes_changed: list[FieldDiff] = field(default_factory=list)
    globals_changed: list[FieldDiff] = field(default_factory=list)
    drawn_attributes: set[str] = field(default_factory=set)
    clocks_at_start: dict[str, float] = field(default_factory=dict)
    peer_ids: tuple[int, int] = (0, 0)
    module_string_sets: list[str] = field(default_factory=list)
    global_random_used: bool = False
    state: Any = None


def diagnose(evidence: Evidence) -> tuple[str | None, list[str]]:
    """The cause (None when deterministic) and hints for a check's evidence."""
    if evidence.run is None:
        return None, []
    if evidence.run == "error":
        return _failure_cause(evidence)
    scan = scan_state(evidence.state)
    hints = _named_suspects(evidence) + _physics_hints(scan)
    if not evidence.diff:
        hints.append(
            "no field differs, only the saved bytes: look for sets (or dicts filled from "
            "them) and objects that pickle their contents in an arbitrary order"
        )
    if evidence.run == "hash_seed":
        cause = (
            f"only the straight run in a second process (PYTHONHASHSEED={evidence.hash_seed}) "
            f"differs, from tick {evidence.tick}: the simulation depends on the hash seed or on "
            "memory addresses"
        )
        hints += [
            f"{path} is a set of strings: its iteration order (and pickle) changes with "
            "PYTHONHASHSEED; iterate over sorted(...) or keep a list or dict instead"
            for path in [*scan.string_sets, *evidence.module_string_sets][:MAX_NAMED]
        ]
        hints += [
            f"{diff.path} has the same keys in another order: it was filled by iterating over "
            "a set; fill it from a sorted list"
            for diff in evidence.diff
            if diff.kind == "order" and diff.path not in scan.string_sets
        ][:MAX_NAMED]
        hints.append(
            "look for iteration over sets of str/bytes (or dicts built from them), hash() of "
            "strings, and id() or sorting by object identity in on_update/on_event"
        )
        return cause, hints
    first = evidence.rollbacks[0] if evidence.rollbacks else None
    if first is None:
        cause = (
            f"the straight run and the rollback run differ at tick {evidence.tick}, before any "
            "rollback: the simulation reads something that changes from one run to the next"
        )
        hints.append(
            "look for module-level random, wall-clock time (time.time(), datetime.now()), "
            "globals, the own peer id (self.session.peer_id differs on every peer), and "
            "attributes that input handlers set outside self.state"
        )
    else:
        cause = (
            f"the runs agree until a rollback re-simulates ticks ({first.reason}, depth "
            f"{first.depth} before tick {first.tick}) and differ at tick {evidence.tick}: "
            "the simulation reads something a rollback does not restore"
        )
        hints.append(
            "everything the simulation reads must be in self.state or come from events; "
            "on_draw runs only for real-time frames, so nothing it computes may feed "
            "on_update or on_event"
        )
    return cause, hints


def _named_suspects(evidence: Evidence) -> list[str]:
    """Hints that name an attribute, a global, a timestamp or the random module."""
    hints = []
    for changed in evidence.attributes_changed[:MAX_NAMED]:
        if changed.path.removeprefix("self.") in evidence.drawn_attributes:
            hints.append(
                f"{changed.path} is changed by on_draw, which runs once per real-time frame "
                "and never during re-simulation, and lives outside self.state "
                f"({_short(changed.a)} -> {_short(changed.b)}): the simulation must not read it"
            )
            continue
        hints.append(
            f"{changed.path} lives outside self.state and changed during the run "
            f"({_short(changed.a)} -> {_short(changed.b)}): rollbacks do not restore it; "
            "move it into self.state (or never let the simulation read it)"
        )
    for changed in evidence.globals_changed[:MAX_NAMED]:
        hints.append(
            f"the module variable {changed.path} changed during the run "
            f"({_short(changed.a)} -> {_short(changed.b)}): keep simulation data in self.state"
        )
    for diff in evidence.diff:
        clock = _clock_of(diff.a, evidence.clocks_at_start)
        if clock is not None:
            hints.append(
                f"{diff.path} looks like a reading of {clock} taken during the check "
                f"({_short(diff.a)}): the simulation must count time in ticks "
                "(ticks * delta_time), never read a clock"
            )
            break
    for diff in evidence.diff:
        if (diff.a, diff.b) == evidence.peer_ids:
            hints.append(
                f"{diff.path} holds the own peer id ({diff.a} in one run, {diff.b} in the "
                "other): self.session.peer_id differs on every peer; use event.source instead"
            )
            break
    if evidence.global_random_used:
        hints.append(
            "the module-level random generator was used while the game ran (random.random(), "
            "random.choice(), ...): keep a random.Random(seed) in self.state and draw from it"
        )
    return hints


def _physics_hints(scan: StateScan) -> list[str]:
    hints = [
        f"{path} has sleeping enabled (a finite sleep_time_threshold): bodies wake differently "
        "after a restore; leave it at math.inf"
        for path in scan.sleeping_spaces[:MAX_NAMED]
    ]
    hints += [
        f"{path} is a plain pymunk.Space, whose snapshots are not canonical: use "
        "arcade_p2p.physics.Space (new_space())"
        for path in scan.plain_spaces[:MAX_NAMED]
    ]
    return hints


def _failure_cause(evidence: Evidence) -> tuple[str, list[str]]:
    failure = evidence.failure
    if failure is None:
        if evidence.worker_failure is not None:
            tick, message, _ = evidence.worker_failure
            return (
                f"the game raised at tick {tick} in the second process "
                f"(PYTHONHASHSEED={evidence.hash_seed}) only: {message}"
            ), ["the simulation depends on the hash seed or on memory addresses"]
        return evidence.worker_note or "the check could not run", []
    error = failure.error
    text = f"{type(error).__name__}: {error}"
    if not failure.unsavable:
        where = "the rollback run" if evidence.failed_run == "rollback" else "the straight run"
        return f"the game raised at tick {failure.tick} in {where}: {text}", []
    scan = scan_state(failure.state)
    hints = [
        f"{path} is a {kind}: pickle saves functions by name, so collision handlers and "
        "callbacks in the state must be module-level functions (listed in STATE_FUNCTIONS)"
        for path, kind in scan.functions[:MAX_NAMED]
    ]
    hints += _physics_hints(scan)
    return f"the state cannot be saved at tick {failure.tick}: {text}", hints


@dataclass(slots=True)
class StateScan:
    """Paths of suspicious objects in a state (see :func:`scan_state`)."""

    string_sets: list[str] = field(default_factory=list)
    functions: list[tuple[str, str]] = field(default_factory=list)
    sleeping_spaces: list[str] = field(default_factory=list)
    plain_spaces: list[str] = field(default_factory=list)


def scan_state(state: Any, root: str = "state") -> StateScan:
    """Find sets of strings, lambdas/nested functions and risky pymunk spaces in a state."""
    scan = StateScan()
    pymunk = sys.modules.get("pymunk")
    seen: dict[int, Any] = {}  # kept alive, so that ids of read properties are not reused
    stack: list[tuple[str, Any]] = [(root, state)]
    while stack and len(seen) < MAX_SCAN_OBJECTS:
        path, value = stack.pop()
        if id(value) in seen:
            continue
        seen[id(value)] = value
        if isinstance(value, (set, frozenset)):
            if any(isinstance(item, (str, bytes)) for item in value):
                scan.string_sets.append(path)
            continue
        qualname = getattr(value, "__qualname__", "")
        if callable(value) and ("<lambda>" in qualname or "<locals>" in qualname):
            kind = "lambda" if "<lambda>" in qualname else "nested function"
            scan.functions.append((path, kind))
            continue
        if pymunk is not None and isinstance(value, pymunk.Space):
            if not math.isinf(value.sleep_time_threshold):
                scan.sleeping_spaces.append(path)
            if not _is_canonical_space(value):
                scan.plain_spaces.append(path)
        children = state_fields(value)
        if children:
            stack.extend((path + suffix, child) for suffix, child in reversed(children))
    return scan


def _is_canonical_space(space: Any) -> bool:
    physics = sys.modules.get("arcade_p2p.physics")
    return physics is not None and isinstance(space, physics.Space)


def clock_readings() -> dict[str, float]:
    """Every clock of :data:`CLOCKS`, read now (call it when the check starts)."""
    return {name: read() for name, read in CLOCKS.items()}


def _clock_of(value: Any, at_start: dict[str, float]) -> str | None:
    """The clock that ``value`` was probably read from during the check, if any."""
    if not isinstance(value, float):
        return None
    for name, start in at_start.items():
        if start <= value <= CLOCKS[name]():
            return name
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
