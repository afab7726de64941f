"""``arcade-p2p play GAME``: run a shared game, one peer or several linked on this machine.

How this works: ``GAME`` is a sample's name (:data:`SAMPLES`), ``MODULE[:CLASS]`` or a
``.py`` file naming a :class:`~arcade_p2p.window.SymmetricWindow` subclass. Every peer is
a child process, ``python -m arcade_p2p.play GAME OPTIONS`` (:func:`run_child`), which
imports the game (headless first if asked) and hands the options to the game's own
``main()``: so ``play`` takes every option of ``Game.main()`` without restating any of
them. It adds ``--local N`` (N peers), ``--json`` and ``--screenshot``, and always asks
its children for their JSON report.

With ``--local N`` the first peer is started and its ``listening on`` line read; the
others then dial it (``--peer``) and find each other by LAN discovery. Unless ``--room``
is given, the run uses a private random room, so it never links to strangers. Each window
gets ``--tile I/N``, its cell in a grid tiling the screen. Children run in process groups
of their own: a Ctrl-C reaches only ``play``, which stops them all (SIGTERM, which a child
turns into a quiet exit; SIGKILL after :data:`STOP_GRACE_S`), and when one peer ends
early (its window was closed) the others are stopped the same way. With ``--seconds S``
every peer stops at tick ``S * fps`` of the room (see ``Game.main()``) and ``play``
prints whether they converged (exit code 1 if not); with ``--json`` the last line is one
JSON object: :func:`play_summary`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from arcade_p2p.demo import PeerProcess
from arcade_p2p.errors import UsageError
from arcade_p2p.peer_options import LINGER_S
from arcade_p2p.peer_report import PeerReport

__all__ = [
    "CHILD_COMMAND",
    "SAMPLES",
    "find_game_class",
    "play_summary",
    "register",
    "run_child",
    "run_play",
]

SAMPLES = {
    "moving_rect": "sample_games.moving_rect:MovingRect",
    "whiteboard": "sample_games.whiteboard:Whiteboard",
    "physics_balls": "sample_games.physics_balls:PhysicsBalls",
    "physics_arena": "sample_games.physics_arena:PhysicsArena",
}
"""Sample name -> ``MODULE:CLASS``."""
CHILD_COMMAND = (sys.executable, "-m", "arcade_p2p.play")
"""How a peer process is started (:func:`run_child`)."""
HEADLESS_ENV = "ARCADE_HEADLESS"
MAX_LOCAL_PEERS = 16
STARTUP_TIMEOUT_S = 90.0
"""Longest wait for a peer's ``listening on`` line (importing Arcade is slow on a busy
machine)."""
FINISH_GRACE_S = 60.0
"""With ``--seconds``: extra time allowed beyond the planned run before peers are stopped."""
STOP_GRACE_S = 5.0
"""Time a peer has to quit after SIGTERM before it is killed."""
POLL_S = 0.2
"""How often ``play`` looks whether a peer has exited."""
HASH_DISPLAY_CHARS = 12
EXIT_USAGE = 2
QUIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals on which ``play`` stops its peers and quits."""
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``play`` subcommand."""
    parser = subparsers.add_parser(
        "play",
        help="play a shared game: one peer, or --local N linked peers on this machine",
        description="Play a shared game. GAME is a sample (" + ", ".join(SAMPLES) + "), "
        "MODULE[:CLASS] or FILE.py naming a SymmetricWindow subclass. Every option of the "
        "game's own command line is accepted (see `arcade-p2p play GAME --help`); "
        "--local N starts N linked peers on this machine.",
    )
    parser.add_argument("game", metavar="GAME", help="sample name, MODULE[:CLASS] or FILE.py")
    _add_play_options(parser)
    parser.add_argument(
        "game_options",
        nargs=argparse.REMAINDER,
        metavar="GAME OPTIONS",
        help="options of the game's main(): --peer, --room, --key, --seconds, --headless, "
        "--info, --fps, ...",
    )
    parser.set_defaults(run=run_play)


def _add_play_options(parser: argparse.ArgumentParser) -> None:
    """The options ``play`` itself owns (also accepted among the game's options)."""
    parser.add_argument(
        "--local",
        type=int,
        default=argparse.SUPPRESS,
        metavar="N",
        help="start N peers on this machine, one process each, linked and tiled (default: 1)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the summary as one JSON object (last line)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="save each peer's final frame as PNG (PATH gets -1, -2, ... with --local; "
        "default: none)",
    )


def _split_options(args: argparse.Namespace) -> tuple[int, bool, str | None, list[str]]:
    """``(local, json, screenshot, the game's options)`` from the parsed command line."""
    own = argparse.ArgumentParser(add_help=False)
    _add_play_options(own)
    ours, game_options = own.parse_known_args(args.game_options, namespace=args)
    local: int = getattr(ours, "local", 1)
    return local, getattr(ours, "json", False), getattr(ours, "screenshot", None), game_options


def _option_value(options: Sequence[str], name: str) -> str | None:
    """The value of ``name`` in ``options`` (``--name V`` or ``--name=V``), last one wins."""
    value = None
    for index, option in enumerate(options):
        if option == name and index + 1 < len(options):
            value = options[index + 1]
        elif option.startswith(name + "="):
            value = option.split("=", 1)[1]
    return value


def _child_argv(
    game: str,
    game_options: list[str],
    *,
    index: int,
    count: int,
    room: str | None,
    shot: str | None,
) -> list[str]:
    argv = [game, *game_options, "--json"]
    if room is not None:
        argv += ["--room", room]
    if count > 1 and "--headless" not in game_options:
        argv += ["--tile", f"{index}/{count}"]
    if shot is not None:
        path = Path(shot)
        if count > 1:
            path = path.with_name(f"{path.stem}-{index + 1}{path.suffix or '.png'}")
        argv += ["--screenshot", str(path)]
    return argv


def run_play(args: argparse.Namespace) -> int:
    """Run the ``play`` subcommand; returns the exit code.

    Raises:
        UsageError: Bad options, or a peer did not start.
    """
    local, as_json, shot, game_options = _split_options(args)
    if any(option in ("-h", "--help") for option in game_options):
        return run_child([args.game, "--help"])
    if not 1 <= local <= MAX_LOCAL_PEERS:
        raise UsageError(f"--local must be in 1..{MAX_LOCAL_PEERS}, got {local}")
    if local > 1:
        for name in ("--port", "--id"):
            if _option_value(game_options, name) is not None:
                raise UsageError(f"{name} names one peer; it cannot be given with --local")
    room = None
    if local > 1 and _option_value(game_options, "--room") is None:
        room = f"play-{secrets.token_hex(4)}"  # private: never links to strangers
    seconds_text = _option_value(game_options, "--seconds")
    has_end = seconds_text is not None or _option_value(game_options, "--max-tick") is not None
    peers: list[PeerProcess] = []
    previous = {sig: signal.signal(sig, _interrupt) for sig in QUIT_SIGNALS}
    try:
        reports = _run_peers(
            args.game,
            game_options,
            local,
            room=room,
            shot=shot,
            peers=peers,
            has_end=has_end,
            planned_s=_seconds(seconds_text),
        )
        failed = [peer for peer in peers if peer.process.returncode != 0]
        for peer in failed:
            _log(f"peer {peer.index + 1} failed: {peer.error_tail()}")
    except KeyboardInterrupt:
        _log("stopping the peers")
        return EXIT_INTERRUPTED
    finally:
        for peer in peers:
            peer.stop(STOP_GRACE_S)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not has_end:
        for report in reports:
            if report is not None:
                print(report.summary(), flush=True)
        return 1 if failed else 0
    summary = play_summary(args.game, reports)
    if as_json:
        print(json.dumps(summary, sort_keys=True), flush=True)
    else:
        _print_summary(summary, reports)
    return 0 if summary["converged"] else 1


def _run_peers(
    game: str,
    game_options: list[str],
    count: int,
    *,
    room: str | None,
    shot: str | None,
    peers: list[PeerProcess],
    has_end: bool,
    planned_s: float | None,
) -> list[PeerReport | None]:
    """Start the peers (appending them to ``peers``), wait for them, return their reports.

    Without an agreed end (``has_end``), the first peer to exit ends them all; with one,
    a peer that exits before the end (or fails) does, and ``planned_s`` (the seconds of
    play, if known) bounds the wait.
    """

    def start(index: int, extra: list[str]) -> PeerProcess:
        argv = _child_argv(game, game_options, index=index, count=count, room=room, shot=shot)
        peer = PeerProcess(index, [*argv, *extra], command=CHILD_COMMAND, own_group=True)
        peers.append(peer)
        return peer

    first = start(0, [])
    address = _read_address(first)
    _log(f"peer 1/{count} listening on {address}" + (f", room {room}" if room else ""))
    for index in range(1, count):
        start(index, ["--peer", address])
    for peer in peers[1:]:
        _log(f"peer {peer.index + 1}/{count} listening on {_read_address(peer)}")
    deadline = time.monotonic() + (
        math.inf if planned_s is None else planned_s + LINGER_S + STARTUP_TIMEOUT_S + FINISH_GRACE_S
    )
    reports: list[PeerReport | None] = [None] * count
    while None in [peer.process.poll() for peer in peers]:  # polls every peer
        if time.monotonic() > deadline:
            _log("peers still running long after the planned end; stopping them")
            return _stop_and_collect(peers, reports)
        for peer in peers:
            if peer.process.returncode is not None and reports[peer.index] is None:
                reports[peer.index] = peer.report()
                report = reports[peer.index]
                early = not has_end or report is None or report.final_tick < report.end_tick
                if early or peer.process.returncode:
                    _log(f"peer {peer.index + 1} ended; stopping the others")
                    return _stop_and_collect(peers, reports)
        running = next((peer for peer in peers if peer.process.poll() is None), None)
        if running is None:  # the last ones ended since the loop's check
            continue
        try:
            running.process.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            continue
    return _stop_and_collect(peers, reports)


def _seconds(text: str | None) -> float | None:
    """``--seconds`` as a number, or None when absent or malformed (the game says why)."""
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _stop_and_collect(
    peers: list[PeerProcess], reports: list[PeerReport | None]
) -> list[PeerReport | None]:
    for peer in peers:
        if peer.process.poll() is None:
            peer.process.terminate()
    for peer in peers:
        try:
            peer.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            peer.process.kill()
            peer.process.wait()
        if reports[peer.index] is None:
            reports[peer.index] = peer.report()
    return reports


def _read_address(peer: PeerProcess) -> str:
    try:
        return peer.read_address(time.monotonic() + STARTUP_TIMEOUT_S)
    except UsageError:
        if peer.process.returncode == EXIT_USAGE:  # the game's parser said why
            raise UsageError(peer.error_tail().split(": error: ")[-1]) from None
        raise


def play_summary(game: str, reports: Sequence[PeerReport | None]) -> dict[str, Any]:
    """What ``play --json`` prints: whether every peer ended with the same state at the
    same final tick.

    Args:
        game: The game as given on the command line.
        reports: One report per peer (None: the peer gave none).

    Returns:
        ``game``, ``peers`` (how many), ``converged``, ``end_tick``, ``final_tick`` (the
        common final tick, or None), ``state_hashes`` and ``final_ticks`` (one per peer,
        None where missing), ``events`` (most events any peer holds) and ``reports``.
    """
    present = [r for r in reports if r is not None]
    final_ticks = {r.final_tick for r in present}
    hashes = {r.state_hash for r in present}
    converged = (
        bool(present) and len(present) == len(reports) and len(hashes) == len(final_ticks) == 1
    )
    return {
        "game": game,
        "peers": len(reports),
        "converged": converged,
        "end_tick": max((r.end_tick for r in present), default=None),
        "final_tick": next(iter(final_ticks)) if len(final_ticks) == 1 else None,
        "final_ticks": [r.final_tick if r else None for r in reports],
        "state_hashes": [r.state_hash if r else None for r in reports],
        "events": max((r.events for r in present), default=0),
        "reports": [json.loads(r.to_json()) if r else None for r in reports],
    }


def _print_summary(summary: dict[str, Any], reports: Sequence[PeerReport | None]) -> None:
    print(
        f"{'peer':>4} {'final tick':>10} {'events':>6} {'on time':>7} {'rollbacks':>9} state hash"
    )
    for index, r in enumerate(reports):
        if r is None:
            print(f"{index + 1:>4} (no report)")
            continue
        print(
            f"{index + 1:>4} {r.final_tick:>10} {r.events:>6} {r.live_events:>7}"
            f" {r.rollbacks:>9} {r.state_hash[:HASH_DISPLAY_CHARS]}"
        )
    if summary["converged"]:
        print(f"all {summary['peers']} peers converged at tick {summary['final_tick']}")
    else:
        print("peers did NOT converge (different state hashes or final ticks)")


def _log(message: str) -> None:
    print(f"play: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the peer process
def find_game_class(spec: str) -> type[Any]:
    """The :class:`~arcade_p2p.window.SymmetricWindow` subclass that ``spec`` names.

    Args:
        spec: A sample name, ``MODULE[:CLASS]`` or ``PATH.py[:CLASS]``. Without ``CLASS``
            the module must define exactly one game class (as for ``arcade-p2p check``).

    Raises:
        UsageError: The module cannot be imported or names no single window class.
    """
    from arcade_p2p.check.target import is_window_class, load_target  # only a peer needs it

    spec = SAMPLES.get(spec, spec)
    target, colon, class_name = spec.partition(":")
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise UsageError(f"no such file: {target}")
        sys.path.insert(0, str(path.parent))  # the game imports its neighbours, pickles by name
        spec = f"{path.stem}{colon}{class_name}"
    cls = load_target(spec, headless=False)  # headless only if the options asked for it
    if not is_window_class(cls):
        raise UsageError(f"{spec} is a StateApp, not a SymmetricWindow: it has no window")
    return cls


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # handled like Ctrl-C: quietly


def run_child(argv: Sequence[str]) -> int:
    """One peer: ``python -m arcade_p2p.play GAME OPTIONS`` runs ``Game.main(OPTIONS)``.

    SIGTERM ends it as quietly as Ctrl-C. Returns the exit code.
    """
    if not argv:
        print("usage: python -m arcade_p2p.play GAME [OPTIONS]", file=sys.stderr)
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _interrupt)  # the window closes itself, as on Ctrl-C
    game, options = argv[0], list(argv[1:])
    sys.argv[0] = f"arcade-p2p play {game}"  # the game's usage and errors name the command
    if "--headless" in options:
        os.environ[HEADLESS_ENV] = "1"  # before the game imports arcade
    try:
        cls = find_game_class(game)
        cls.main(options)
    except UsageError as exc:
        print(f"arcade-p2p play: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(run_child(sys.argv[1:]))
