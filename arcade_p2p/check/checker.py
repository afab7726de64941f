"""The determinism check: a straight run against a rollback run and a second process.

How this works: :func:`check_game` runs the game three times with the same seeded input.

* Run A, straight: every event on time, ``on_draw`` once per frame. Its input (autopilot
  or random player, see :mod:`arcade_p2p.check.driver`) produces the events.
* Run B, in the same process after A (one window at a time: switching the GL context of
  headless windows costs milliseconds): it receives A's events as if from the network,
  half of them late by a random depth, and is also forced to roll back by a random depth
  at random ticks (the first within the first dozen ticks), through the real time
  machine. After each frame its saved state is compared with A's of the same tick (once B
  has every event up to that tick: a late event's ticks are compared after the rollback
  that repairs them); the first tick where they differ is the divergence.
* Run C, in a second process with another ``PYTHONHASHSEED`` (started at once and run in
  parallel, see :mod:`arcade_p2p.check.worker`): a straight run like A. It catches set and
  dict order of strings and ``id()`` dependence, which one process cannot see.

On a divergence both states are unpickled and compared field by field
(:func:`arcade_p2p.statediff.diff_states`), and :mod:`arcade_p2p.check.diagnosis` names
the likely cause. A game that raises, or whose state cannot be pickled, fails the check
with its error as the cause instead of crashing it.
"""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcade_p2p.check.diagnosis import Evidence, clock_readings, diagnose
from arcade_p2p.check.driver import CheckedPeer, GameFailure, changed, digest, snapshot
from arcade_p2p.check.target import ensure_headless, load_target, target_spec
from arcade_p2p.check.worker import STRAIGHT_PEER_ID, WorkerResult, input_rng
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event, is_system_name
from arcade_p2p.statediff import DEFAULT_MAX_DIFFS, FieldDiff, diff_states

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_TICKS",
    "CheckReport",
    "Rollback",
    "check_game",
]

DEFAULT_TICKS = 300
DEFAULT_SEED = 1
ROLLBACK_PEER_ID = 202
FIRST_ROLLBACK_TICKS = (4, 12)
"""The first forced rollback happens at a random tick in this range."""
ROLLBACK_GAP_TICKS = (3, 15)
"""Ticks between forced rollbacks (random in this range)."""
MAX_ROLLBACK_DEPTH_TICKS = 30
LATE_EVENT_CHANCE = 0.5
"""Probability that the rollback run receives one of A's events late."""
WORKER_TIMEOUT_S = 600.0
HASH_SEED_RANGE = 4_294_967_295
"""PYTHONHASHSEED takes 0 .. 2**32 - 1."""


@dataclass(frozen=True, slots=True)
class Rollback:
    """One rollback of the rollback run.

    Attributes:
        tick: The tick (frame) before which it happened.
        depth: How many ticks it rewound.
        reason: ``"forced"`` or ``"late event"``.
    """

    tick: int
    depth: int
    reason: str


@dataclass(slots=True)
class CheckReport:
    """The outcome of :func:`check_game`.

    Attributes:
        target: The game, as ``MODULE:CLASS``.
        deterministic: Whether every run agreed on every tick.
        first_divergent_tick: The first tick where the runs differ (or the game failed).
        diff: The fields that differ at that tick (first state vs second state).
        ticks: Ticks the straight run simulated.
        rollbacks: Rollbacks the rollback run performed.
        rollback_ticks: Their total depth.
        events: Events the input produced.
        inputs: ``"autopilot"``, ``"random"`` or ``"none"``.
        seed: The seed of input and rollbacks.
        run: Which comparison failed: ``"rollback"`` (straight vs rollback run, one
            process), ``"hash_seed"`` (straight run vs second process) or ``"error"``.
        cause: One line naming the cause.
        hints: What to look at, most specific first.
        hash_seed: The second process's ``PYTHONHASHSEED`` (None if it was skipped).
        seconds: Wall time of the check.
    """

    target: str
    deterministic: bool
    first_divergent_tick: int | None
    diff: list[FieldDiff]
    ticks: int
    rollbacks: int
    rollback_ticks: int
    events: int
    inputs: str
    seed: int
    run: str | None = None
    cause: str | None = None
    hints: list[str] = field(default_factory=list)
    hash_seed: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON-able object."""
        return {
            "target": self.target,
            "deterministic": self.deterministic,
            "first_divergent_tick": self.first_divergent_tick,
            "diff": [d.to_json() for d in self.diff],
            "ticks": self.ticks,
            "rollbacks": self.rollbacks,
            "rollback_ticks": self.rollback_ticks,
            "events": self.events,
            "inputs": self.inputs,
            "seed": self.seed,
            "run": self.run,
            "cause": self.cause,
            "hints": self.hints,
            "hash_seed": self.hash_seed,
            "seconds": round(self.seconds, 3),
        }

    def summary(self, max_fields: int = 10) -> str:
        """A human-readable report (a few lines)."""
        head = (
            f"{self.ticks} ticks, {self.events} events ({self.inputs} input), "
            f"rollbacks: {self.rollbacks} ({self.rollback_ticks} ticks), seed {self.seed}"
        )
        if self.deterministic:
            seeds = (
                f", PYTHONHASHSEED={self.hash_seed} in a second process" if self.hash_seed else ""
            )
            return f"deterministic: {self.target}: {head}{seeds}"
        lines = [
            f"NOT deterministic: {self.target}: first divergent tick {self.first_divergent_tick}",
            f"  cause: {self.cause}",
        ]
        if self.diff:
            lines.append("  fields that differ (first run != second run):")
            lines += [f"    {d}" for d in self.diff[:max_fields]]
            if len(self.diff) > max_fields:
                lines.append(f"    ... {len(self.diff) - max_fields} more (see --json)")
        lines += [f"  hint: {hint}" for hint in self.hints]
        lines.append(f"  ({head})")
        return "\n".join(lines)


def check_game(
    target: str | type,
    *,
    ticks: int = DEFAULT_TICKS,
    seed: int = DEFAULT_SEED,
    second_process: bool = True,
    max_diffs: int = DEFAULT_MAX_DIFFS,
) -> CheckReport:
    """Check that a game is deterministic under rollback and across hash seeds.

    Args:
        target: ``MODULE[:CLASS]`` or the class itself (a ``SymmetricWindow`` or
            ``StateApp`` subclass). The second process needs a class importable by name.
        ticks: Ticks to simulate.
        seed: Seed of the input and of the rollbacks.
        second_process: Also run straight in another process with another hash seed.
        max_diffs: Most fields reported.

    Returns:
        The report; ``report.deterministic`` is the verdict.

    Raises:
        UsageError: The target cannot be found or ``ticks`` is not positive.
    """
    if ticks < 1:
        raise UsageError(f"ticks must be >= 1, got {ticks}")
    started = time.perf_counter()
    clocks = clock_readings()
    ensure_headless()
    cls = load_target(target) if isinstance(target, str) else target
    spec = target_spec(cls)
    worker = _Worker.start(spec, ticks, seed) if second_process and spec else None
    try:
        comparison = _Comparison(cls, ticks, seed)
        comparison.run()
        report = comparison.report(spec or cls.__qualname__, worker, max_diffs, clocks)
    finally:
        if worker is not None:
            worker.stop()
    report.seconds = time.perf_counter() - started
    return report


class _Worker:
    """The second process (see :mod:`arcade_p2p.check.worker`)."""

    def __init__(self, process: subprocess.Popen[bytes], folder: Path, hash_seed: str) -> None:
        self.process = process
        self.folder = folder
        self.hash_seed = hash_seed

    @classmethod
    def start(cls, spec: str, ticks: int, seed: int) -> _Worker:
        folder = Path(tempfile.mkdtemp(prefix="arcade-p2p-check-"))
        own = os.environ.get("PYTHONHASHSEED", "")
        base = int(own) if own.isdigit() else seed
        hash_seed = str((base + 1) % HASH_SEED_RANGE)
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "ARCADE_HEADLESS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [*sys.path, env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "arcade_p2p.check.worker", spec]
        command += ["--ticks", str(ticks), "--seed", str(seed), "--out", str(folder / "out")]
        with open(folder / "log", "wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=log, stderr=log, env=env
            )
        return cls(process, folder, hash_seed)

    def result(self, digests: list[bytes]) -> WorkerResult | str:
        """Hand over the parent's digests; the worker's result, or why there is none."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(pickle.dumps(digests, protocol=pickle.HIGHEST_PROTOCOL))
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        code = self.process.wait(timeout=WORKER_TIMEOUT_S)
        out = self.folder / "out"
        if code != 0 or not out.exists():
            log = (self.folder / "log").read_text(errors="replace").strip().splitlines()
            return f"the second process failed (exit {code}): {log[-1] if log else 'no output'}"
        with open(out, "rb") as source:
            fields = pickle.load(source)  # written by our own child process
        return WorkerResult(**fields)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


class _Comparison:
    """Runs A (straight), then B (rollbacks) against it, and finds their first divergence."""

    def __init__(self, cls: type, ticks: int, seed: int) -> None:
        self.cls = cls
        self.ticks = ticks
        self.seed = seed
        self.blobs: list[bytes] = []
        self.digests: list[bytes] = []
        self.rollbacks: list[Rollback] = []
        self.events = 0
        self.divergence: int | None = None
        self.state_b: bytes | None = None
        self.failure: GameFailure | None = None
        self.failed_run = ""
        self.inputs = "none"
        self.rollback_ticks = 0
        self.rollback_count = 0
        self.attributes_changed: list[FieldDiff] = []
        self.globals_changed: list[FieldDiff] = []
        self.global_random_used = False
        self.drawn_attributes: set[str] = set()

    def run(self) -> None:
        module_globals = _plain_globals(sys.modules[self.cls.__module__])
        random_before = random.getstate()
        deliveries = self._straight()
        if self.failure is None:
            self._rollback(deliveries)
        self.global_random_used = random.getstate() != random_before
        module = sys.modules[self.cls.__module__]
        self.globals_changed = changed(module_globals, _plain_globals(module), module.__name__)

    def _straight(self) -> list[tuple[int, Event]]:
        """Run A; returns its events with the frame before which B receives each."""
        a = CheckedPeer(self.cls, peer_id=STRAIGHT_PEER_ID)
        play_rng = input_rng(self.seed)
        late_rng = random.Random(f"late-{self.seed}")
        deliveries: list[tuple[int, Event]] = []
        self.inputs = a.inputs
        attributes = snapshot(a.game_attributes())
        a.watch_draw()
        try:
            for frame in range(self.ticks):
                blob = a.frame(frame)
                self.blobs.append(blob)
                self.digests.append(digest(blob))
                for event in a.play(frame, play_rng):
                    late = late_rng.random() < LATE_EVENT_CHANCE
                    depth = late_rng.randint(1, MAX_ROLLBACK_DEPTH_TICKS) if late else 0
                    deliveries.append((max(frame + 1, event.tick + depth), event))
        except GameFailure as failure:
            self.failure, self.failed_run = failure, "straight"
        finally:
            self.attributes_changed = changed(attributes, a.game_attributes(), "self")
            self.drawn_attributes = a.drawn_attributes
            a.close()
        self.events = sum(not is_system_name(event.name) for _, event in deliveries)
        return deliveries

    def _rollback(self, deliveries: list[tuple[int, Event]]) -> None:
        """Run B against A's states, with late events and forced rollbacks."""
        b = CheckedPeer(self.cls, peer_id=ROLLBACK_PEER_ID, announce=False)
        rng = random.Random(f"rollbacks-{self.seed}")
        pending = sorted(deliveries, key=lambda due: due[0])
        next_rollback = rng.randint(*FIRST_ROLLBACK_TICKS)
        try:
            last = len(self.digests) - 1
            for frame, expected in enumerate(self.digests):
                if frame == last:  # whatever is still under way arrives: the end is compared
                    pending = [(min(at, frame), event) for at, event in pending]
                while pending and pending[0][0] <= frame:
                    _, event = pending.pop(0)
                    if event.tick < frame:
                        self.rollbacks.append(Rollback(frame, frame - event.tick, "late event"))
                    b.deliver(event)
                if frame == next_rollback:
                    depth = rng.randint(1, min(MAX_ROLLBACK_DEPTH_TICKS, frame))
                    b.force_rollback(depth)
                    self.rollbacks.append(Rollback(frame, depth, "forced"))
                    next_rollback = frame + rng.randint(*ROLLBACK_GAP_TICKS)
                blob = b.frame(frame)
                complete = all(event.tick > frame for _, event in pending)
                if complete and digest(blob) != expected:
                    self.divergence, self.state_b = frame, blob
                    return
        except GameFailure as failure:
            self.failure, self.failed_run = failure, "rollback"
        finally:
            self.rollback_count = b.session.stats().rollbacks
            self.rollback_ticks = b.session.stats().rollback_ticks
            b.close()

    def report(
        self, target: str, worker: _Worker | None, max_diffs: int, clocks: dict[str, float]
    ) -> CheckReport:
        tick = self.divergence
        run: str | None = "rollback" if tick is not None else None
        diff: list[FieldDiff] = []
        second_state: bytes | None = self.state_b
        worker_note: str | None = None
        worker_failure: tuple[int, str, bool] | None = None
        if worker is not None:
            outcome = worker.result(self.digests)
            if isinstance(outcome, str):
                worker_note = outcome
            else:
                worker_failure = outcome.failure
                if outcome.first_divergent_tick is not None and (
                    tick is None or outcome.first_divergent_tick < tick
                ):
                    tick, run = outcome.first_divergent_tick, "hash_seed"
                    second_state = outcome.blob
        failure_tick = self.failure.tick if self.failure else None
        if worker_failure is not None and self.failure is None:
            failure_tick = worker_failure[0]
        if failure_tick is not None and (tick is None or failure_tick <= tick):
            tick, run = failure_tick, "error"
        elif worker_note is not None and run is None:
            run = "error"
        if run in ("rollback", "hash_seed") and tick is not None and second_state is not None:
            diff = diff_states(
                pickle.loads(self.blobs[tick]), pickle.loads(second_state), max_diffs=max_diffs
            )
        evidence = Evidence(
            run=run,
            tick=tick,
            diff=diff,
            rollbacks=[r for r in self.rollbacks if tick is not None and r.tick <= tick],
            failure=self.failure,
            failed_run=self.failed_run,
            worker_failure=worker_failure,
            worker_note=worker_note,
            hash_seed=worker.hash_seed if worker else None,
            attributes_changed=self.attributes_changed,
            globals_changed=self.globals_changed,
            drawn_attributes=self.drawn_attributes,
            clocks_at_start=clocks,
            peer_ids=(STRAIGHT_PEER_ID, ROLLBACK_PEER_ID),
            module_string_sets=_string_sets(sys.modules[self.cls.__module__]),
            global_random_used=self.global_random_used,
            state=pickle.loads(self.blobs[-1]) if self.blobs else None,
        )
        cause, hints = diagnose(evidence)
        return CheckReport(
            target=target,
            deterministic=run is None,
            first_divergent_tick=tick,
            diff=diff,
            ticks=len(self.blobs),
            rollbacks=self.rollback_count,
            rollback_ticks=self.rollback_ticks,
            events=self.events,
            inputs=self.inputs,
            seed=self.seed,
            run=run,
            cause=cause,
            hints=hints,
            hash_seed=worker.hash_seed if worker else None,
        )


def _string_sets(module: Any) -> list[str]:
    """Module-level sets of strings (iterating over them depends on the hash seed)."""
    return [
        f"{module.__name__}.{name}"
        for name, value in vars(module).items()
        if isinstance(value, (set, frozenset)) and any(isinstance(v, (str, bytes)) for v in value)
    ]


def _plain_globals(module: Any) -> dict[str, Any]:
    """A copy of a module's mutable plain-data globals (lists, dicts, sets, numbers)."""
    found = {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("__") and isinstance(value, (int, float, list, dict, set))
    }
    return snapshot(found)
