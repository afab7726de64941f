"""``arcade-p2p replay BUNDLE``: re-simulate a desync offline and show where it began.

How this works: :func:`replay_bundle` loads the bundle's base snapshot into a fresh copy
of the game -- through the game's restricted state decoder, since the bundle's states may
have come from the network -- and re-simulates the bundle's events up to the desync's
tick with a :class:`~arcade_p2p.machine.TimeMachine`, exactly as a live peer does
(snapshots at the same ticks, the run continuing from each). At every snapshot tick it
compares the re-simulation's state hash with the hashes each peer reported: the first
tick where a peer's hash differs is where that peer's state left the deterministic
history (it diverged somewhere in the snapshot period before that tick). For each peer
whose state at the desync's tick differs from the re-simulation, the differing fields are
listed (:func:`arcade_p2p.statediff.diff_states`). :func:`run` is the command: it loads
the game named in the bundle (``--app`` overrides it), prints the result as text or JSON
and exits with 0.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcade_p2p.app import StateApp
from arcade_p2p.desync_bundle import DesyncBundle
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.hash_reports import snapshot_hash
from arcade_p2p.machine import TimeMachine
from arcade_p2p.presence import unpack_snapshot
from arcade_p2p.statediff import diff_states
from arcade_p2p.timeline import Timeline

__all__ = ["PeerVerdict", "ReplayResult", "register", "replay_bundle", "run"]


@dataclass(frozen=True, slots=True)
class PeerVerdict:
    """How one peer's reported history compares with the re-simulation.

    Attributes:
        peer: The peer's id.
        first_divergent_tick: First snapshot tick where its reported hash differs from
            the re-simulation (None: it matches at every tick it reported).
        last_agreed_tick: The last reported tick before that where it matched.
        fields: Differences between the re-simulated state at the desync's tick (``a``)
            and this peer's (``b``), as ``{path, a, b, kind}`` (empty if equal or unknown).
        note: Why the fields are unknown (no state in the bundle, refused by the decoder).
    """

    peer: int
    first_divergent_tick: int | None
    last_agreed_tick: int | None
    fields: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What the replay found.

    Attributes:
        tick: The desync's tick.
        base_tick: Where the re-simulation started.
        events: Events re-simulated.
        state_hash: The re-simulation's state hash at ``tick`` (hex).
        peers: One verdict per peer (the bundle's writer first).
        bundle_diff: The diff between the two peers' states stored in the bundle.
    """

    tick: int
    base_tick: int
    events: int
    state_hash: str
    peers: list[PeerVerdict]
    bundle_diff: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the result."""
        return {
            "tick": self.tick,
            "base_tick": self.base_tick,
            "events": self.events,
            "state_hash": self.state_hash,
            "peers": [
                {
                    "peer": v.peer,
                    "first_divergent_tick": v.first_divergent_tick,
                    "last_agreed_tick": v.last_agreed_tick,
                    "fields": v.fields,
                    "note": v.note,
                }
                for v in self.peers
            ],
            "bundle_diff": self.bundle_diff,
        }

    def summary(self) -> str:
        """A readable account of the replay."""
        lines = [
            f"desync at tick {self.tick}: re-simulated {self.events} events from the "
            f"snapshot at tick {self.base_tick}; re-simulated state {self.state_hash}"
        ]
        for v in self.peers:
            if v.first_divergent_tick is None:
                lines.append(f"peer {v.peer}: matches the re-simulation at every reported tick")
                continue
            since = "" if v.last_agreed_tick is None else f" (last agreed at {v.last_agreed_tick})"
            lines.append(f"peer {v.peer}: first divergent tick {v.first_divergent_tick}{since}")
            if v.note:
                lines.append(f"  {v.note}")
            for diff in v.fields:
                lines.append(
                    f"  {diff['path']}: re-simulated {diff['a']!r}, peer {v.peer} {diff['b']!r}"
                )
        return "\n".join(lines)


def replay_bundle(bundle: DesyncBundle, app: StateApp) -> ReplayResult:
    """Re-simulate ``bundle`` with ``app`` (a fresh instance of the bundle's game).

    Raises:
        UsageError: The bundle's base snapshot is refused by the game's state decoder.
    """
    timeline = Timeline()
    for event in bundle.events:
        timeline.insert(event)
    every = bundle.snapshot_every_ticks
    machine = TimeMachine(app, timeline, snapshot_every_ticks=every)
    if bundle.base_state is not None:
        try:
            presence, app_state = unpack_snapshot(bundle.base_state)
            app.load_remote_state(app_state)
        except RemoteError as exc:
            raise UsageError(f"the bundle's base snapshot is refused: {exc}") from None
        machine.presence.restore(presence)
        machine.resume_at(bundle.base_tick)
    resimulated: dict[int, bytes] = {}
    if bundle.base_state is not None:
        resimulated[bundle.base_tick] = bundle.base_state
    for tick in range(bundle.base_tick + every, bundle.tick + 1, every):
        machine.advance(tick)  # the snapshot at ``tick`` is taken as tick starts
        found = machine.snapshots.at_or_before(tick)
        assert found is not None and found[0] == tick  # just taken
        resimulated[tick] = found[1]
    final = resimulated.get(bundle.tick)
    if final is None:
        raise UsageError(f"the bundle's tick {bundle.tick} is not a snapshot tick")
    hashes = {tick: snapshot_hash(blob).hex() for tick, blob in resimulated.items()}
    expected = app.codec.decode(unpack_snapshot(final)[1])
    sides = (
        (bundle.peer, bundle.hashes, bundle.state_hash, bundle.state),
        (bundle.other, bundle.other_hashes, bundle.other_state_hash, bundle.other_state),
    )
    return ReplayResult(
        tick=bundle.tick,
        base_tick=bundle.base_tick,
        events=len(bundle.events),
        state_hash=hashes[bundle.tick],
        peers=[
            _verdict(app, expected, hashes, peer, {**reported, bundle.tick: final_hash}, state)
            for peer, reported, final_hash, state in sides
        ],
        bundle_diff=list(bundle.diff),
    )


def _verdict(
    app: StateApp,
    expected: Any,
    resimulated: dict[int, str],
    peer: int,
    reported: dict[int, str],
    state: bytes | None,
) -> PeerVerdict:
    """Compare one peer's reported hashes and final state with the re-simulation."""
    first = last = None
    for tick in sorted(t for t in reported if t in resimulated):
        if reported[tick] != resimulated[tick]:
            first = tick
            break
        last = tick
    if first is None:
        return PeerVerdict(peer, None, last)
    if state is None:
        return PeerVerdict(peer, first, last, note="its state is not in the bundle")
    try:
        theirs = app.codec.decode(unpack_snapshot(state)[1])
    except RemoteError as exc:
        return PeerVerdict(peer, first, last, note=f"its state is refused by the decoder: {exc}")
    fields = [diff.to_json() for diff in diff_states(expected, theirs)]
    return PeerVerdict(peer, first, last, fields=fields)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``replay`` subcommand."""
    parser = subparsers.add_parser(
        "replay",
        help="re-simulate a desync forensics bundle and show where the states diverged",
        description="Load a desync bundle (written by a peer that found a desync), "
        "re-simulate its events from its base snapshot with the game's code, and show each "
        "peer's first divergent tick and the fields that differ.",
    )
    parser.add_argument("bundle", metavar="BUNDLE", help="the bundle file")
    parser.add_argument(
        "--app",
        metavar="MODULE[:CLASS]",
        help="the game (default: the one the bundle names)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Replay the bundle; returns the exit code."""
    from arcade_p2p.check.driver import CheckedPeer  # imports the game's engine on demand
    from arcade_p2p.check.target import load_target

    try:
        data = Path(args.bundle).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.bundle}: {exc.strerror}") from None
    bundle = DesyncBundle.from_bytes(data)
    game = CheckedPeer(load_target(args.app or bundle.app), peer_id=bundle.peer)
    try:
        app = game.session.app
        if not isinstance(app, StateApp):
            raise UsageError(f"{bundle.app} keeps no StateApp state to replay")
        result = replay_bundle(bundle, app)
    finally:
        game.close()
    print(json.dumps(result.to_json()) if args.json else result.summary())
    return 0
