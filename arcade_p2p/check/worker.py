"""The straight run in a second process, under another ``PYTHONHASHSEED``.

How this works: the checker starts ``python -m arcade_p2p.check.worker SPEC --ticks N
--seed S --out PATH`` with a different hash seed. The worker runs the game straight (same
peer id, same seeded input, ``on_draw`` every frame) and keeps every saved state. Then it
reads the parent's per-tick digests from stdin (a pickle), finds the first tick where they
differ and writes a :class:`WorkerResult` (pickled as a dict) with its state at that tick
to ``PATH``. Both pickles travel only between the checker and its own child process.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from arcade_p2p.check.driver import CheckedPeer, GameFailure, digest
from arcade_p2p.check.target import load_target

__all__ = ["STRAIGHT_PEER_ID", "WorkerResult", "input_rng", "main", "straight_run"]

STRAIGHT_PEER_ID = 101
"""Peer id of the straight runs (the rollback run uses another one; both are unusual
numbers so that a state field holding the own peer id is recognised)."""


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """What the second process reports.

    Attributes:
        ticks: Ticks it ran.
        first_divergent_tick: First tick whose state differs from the parent's, if any.
        blob: Its saved state at that tick.
        failure: ``(tick, message, unsavable)`` if the game raised in this process.
    """

    ticks: int
    first_divergent_tick: int | None
    blob: bytes | None
    failure: tuple[int, str, bool] | None


def input_rng(seed: int) -> random.Random:
    """The seeded randomness of the straight runs' input (the same in both processes)."""
    return random.Random(f"input-{seed}")


def straight_run(cls: type, ticks: int, seed: int) -> tuple[list[bytes], GameFailure | None]:
    """Run ``cls`` straight for ``ticks`` frames; the saved state of each tick.

    Returns:
        The states of ticks ``0 ..`` and the failure that stopped the run early, if any.
    """
    peer = CheckedPeer(cls, peer_id=STRAIGHT_PEER_ID)
    rng = input_rng(seed)
    blobs: list[bytes] = []
    try:
        for frame in range(ticks):
            blobs.append(peer.frame(frame))
            peer.play(frame, rng)
    except GameFailure as failure:
        return blobs, failure
    finally:
        peer.close()
    return blobs, None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the worker process."""
    parser = argparse.ArgumentParser(prog="python -m arcade_p2p.check.worker")
    parser.add_argument("target")
    parser.add_argument("--ticks", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    blobs, failure = straight_run(load_target(args.target), args.ticks, args.seed)
    expected: list[bytes] = pickle.load(sys.stdin.buffer)
    first = next(
        (t for t, (mine, theirs) in enumerate(zip(blobs, expected)) if digest(mine) != theirs),
        None,
    )
    result = WorkerResult(
        ticks=len(blobs),
        first_divergent_tick=first,
        blob=None if first is None else blobs[first],
        failure=None
        if failure is None
        else (failure.tick, f"{type(failure.error).__name__}: {failure.error}", failure.unsavable),
    )
    with open(args.out, "wb") as out:
        pickle.dump(dataclasses.asdict(result), out, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
