"""``arcade-p2p demo --headless``: several real peers over real UDP, and whether they agree.

How this works: the demo starts ``--peers`` separate ``arcade-p2p peer`` processes on
loopback, each on a port chosen by the operating system, with ``--json``. It reads each
one's ``listening on HOST:PORT`` line (on the peer's stderr, which a reader thread keeps
draining) before starting the next, which dials all earlier ones, so the peers form a
full mesh. Every peer presses random arrow keys (its autopilot, ``--rate`` per minute)
for ``--seconds``, over links with emulated latency, jitter and loss (a few events arrive
after their tick and are repaired by rollback; lost datagrams are recovered by
anti-entropy), settles, and stops at the same agreed tick. The demo shows progress while
they run, then collects each peer's JSON report and prints a table: the exit code is 0 if
and only if every peer ended with the same state hash.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from typing import IO

from arcade_p2p.cli_support import check_delay_ms, check_positive, delay_arg, format_delay
from arcade_p2p.errors import UsageError
from arcade_p2p.link_model import default_jitter_ms
from arcade_p2p.peer_options import LINGER_S, add_run_options
from arcade_p2p.peer_report import PeerReport
from arcade_p2p.session import DEFAULT_FPS

__all__ = ["PEER_COMMAND", "PeerProcess", "register", "run_demo"]

PEER_COMMAND = (sys.executable, "-m", "arcade_p2p", "peer")
"""How a peer process is started (the ``arcade-p2p peer`` subcommand)."""
MAX_DEMO_PEERS = 16
STARTUP_TIMEOUT_S = 30.0
"""Longest wait for a peer's ``listening on`` line."""
FINISH_GRACE_S = 30.0
"""Extra time allowed beyond the planned run before the demo gives up on a peer."""
PROGRESS_INTERVAL_S = 1.0
PROGRESS_WIDTH = 72
LISTENING_PREFIX = "listening on "
HASH_DISPLAY_CHARS = 12
PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal a process gets when its parent dies."""
ERROR_LINES_KEPT = 20
"""Last stderr lines of a peer kept to explain its failure."""
DEFAULT_SECONDS = 10.0
"""How long the demo feeds random input by default."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run several peers over real UDP on this machine and check they agree",
        description="Start several headless moving-rectangle peers as separate processes "
        "over real UDP on loopback, feed them random input and check that every peer "
        "ends with the same state hash (exit code 0 if so).",
    )
    parser.add_argument(
        "--headless", action="store_true", help="run headless peers (the only mode here)"
    )
    parser.add_argument(
        "--peers", type=int, default=3, metavar="N", help="number of peer processes"
    )
    add_run_options(parser, seconds=DEFAULT_SECONDS, max_tick=False)
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="N",
        help="seed of the run: peer ids, their autopilots and the emulated links",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=120.0,
        metavar="PER_MIN",
        help="random key presses per minute, per peer",
    )
    parser.add_argument(
        "--delay-ms",
        type=delay_arg,
        default=40.0,
        metavar="MS",
        help="Delta in milliseconds, or auto (each peer chooses its own)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=30.0,
        metavar="MS",
        help="mean one-way latency of every link (emulated in user space)",
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=None,
        metavar="MS",
        help="standard deviation of the latency (default: latency / 5)",
    )
    parser.add_argument(
        "--loss",
        type=float,
        default=0.02,
        metavar="P",
        help="probability that a datagram is lost on a link",
    )
    parser.add_argument(
        "--json", action="store_true", help="print only the outcome, as one JSON object"
    )
    parser.set_defaults(run=run_demo)


class PeerProcess:
    """A peer child process run with ``--json`` (``arcade-p2p peer`` unless told otherwise).

    Its stdout holds only its JSON report; a reader thread drains its stderr, hands over
    the ``listening on`` line and keeps the last lines to explain a failure.

    Args:
        index: Position among the peers (0-based, for messages).
        argv: Arguments after the command.
        command: The command that starts a peer.
        own_group: Start the process in a session (and process group) of its own, so that
            a Ctrl-C in the terminal reaches only the parent, which then stops it; on Linux
            the process also gets SIGTERM if the parent dies without stopping it.
    """

    def __init__(
        self,
        index: int,
        argv: list[str],
        *,
        command: Sequence[str] = PEER_COMMAND,
        own_group: bool = False,
    ) -> None:
        self.index = index
        self.process = subprocess.Popen(
            [*command, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=own_group,
            preexec_fn=_terminate_with_parent if own_group and sys.platform == "linux" else None,
        )
        self._errors: deque[str] = deque(maxlen=ERROR_LINES_KEPT)
        self._listening: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    @property
    def stdout(self) -> IO[str]:
        """The process's standard output."""
        assert self.process.stdout is not None  # created with stdout=PIPE
        return self.process.stdout

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None  # created with stderr=PIPE
        for line in self.process.stderr:
            if line.startswith(LISTENING_PREFIX):
                self._listening.put(line[len(LISTENING_PREFIX) :].strip())
            elif line.strip():
                self._errors.append(line.strip())
        self._listening.put("")  # the process closed its stderr: it has ended

    def read_address(self, deadline: float) -> str:
        """Wait for the ``listening on HOST:PORT`` line and return ``HOST:PORT``."""
        try:
            address = self._listening.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            address = ""
        if not address:
            self.process.kill()
            self.process.wait()
            raise UsageError(f"peer {self.index + 1} did not start: {self.error_tail()}")
        return address

    def error_tail(self) -> str:
        """The last line the process wrote to stderr (or its exit status)."""
        if self._errors:
            return self._errors[-1]
        return f"exit code {self.process.poll()}"

    def report(self) -> PeerReport | None:
        """The JSON report on the last stdout line, once the process has exited."""
        lines = self.stdout.read().splitlines()
        try:
            return PeerReport.from_json(lines[-1]) if lines else None
        except ValueError:
            return None

    def stop(self, grace_s: float = 0.0) -> None:
        """Stop the process if it is still running and release its pipes.

        Args:
            grace_s: Seconds it may take to quit after SIGTERM before it is killed
                (0: killed at once).
        """
        if self.process.poll() is None and grace_s > 0:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace_s)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join()
        self.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()


def _terminate_with_parent() -> None:
    """In a Linux child before exec: receive SIGTERM when the parent process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _peer_argv(
    args: argparse.Namespace, peer_id: int, jitter_ms: float, dial: list[str]
) -> list[str]:
    argv = [
        "--id", str(peer_id), "--autopilot", str(args.seed), "--json",
        "--seconds", repr(args.seconds), "--settle", repr(args.settle),
        "--rate", repr(args.rate), "--delay-ms", str(args.delay_ms),
        "--emulate-latency-ms", repr(args.latency_ms),
        "--emulate-jitter-ms", repr(jitter_ms), "--emulate-loss", repr(args.loss),
        "--no-discover",  # the demo's mesh is explicit
    ]  # fmt: skip
    for address in dial:
        argv += ["--peer", address]
    return argv


def _progress(message: str) -> None:
    if sys.stderr.isatty():  # overwrite one status line
        print(f"\r{message:<{PROGRESS_WIDTH}}", end="", file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Run the ``demo`` subcommand; returns 0 iff all peers agree."""
    if not args.headless:
        raise UsageError(
            "only --headless is available from this command; the windowed demo is"
            " `python -m sample_games.moving_rect`"
        )
    if not 2 <= args.peers <= MAX_DEMO_PEERS:
        raise UsageError(f"--peers must be in 2..{MAX_DEMO_PEERS}, got {args.peers}")
    check_positive("--seconds", args.seconds)
    for flag, value in (("--settle", args.settle), ("--rate", args.rate)):
        check_positive(flag, value, allow_zero=True)
    check_delay_ms(args.delay_ms, DEFAULT_FPS)
    for flag, value in (("--latency-ms", args.latency_ms), ("--jitter-ms", args.jitter_ms)):
        check_positive(flag, value, allow_zero=True)
    if not 0 <= args.loss < 1:
        raise UsageError(f"--loss must be a probability in [0, 1), got {args.loss!r}")
    jitter_ms = default_jitter_ms(args.latency_ms) if args.jitter_ms is None else args.jitter_ms
    print(
        f"demo: {args.peers} peer processes over UDP on loopback; links {args.latency_ms:g}"
        f" +/- {jitter_ms:g} ms one way, {args.loss:.0%} loss; delta {format_delay(args.delay_ms)};"
        f" random keys for {args.seconds:g} s at {args.rate:g}/min per peer",
        file=sys.stderr,
    )
    rng = random.Random(args.seed)
    ids = rng.sample(range(1, 2**63), args.peers)
    peers: list[PeerProcess] = []
    try:
        addresses: list[str] = []
        for index, peer_id in enumerate(ids):
            argv = _peer_argv(args, peer_id, jitter_ms, addresses)
            peer = PeerProcess(index, argv)
            peers.append(peer)
            addresses.append(peer.read_address(time.monotonic() + STARTUP_TIMEOUT_S))
            _progress(f"started peer {index + 1}/{args.peers} on {addresses[-1]}")
        _wait_for_peers(peers, args)
        reports = [peer.report() for peer in peers]
        failed = [p for p, r in zip(peers, reports) if r is None or p.process.returncode != 0]
        for peer in failed:
            print(f"peer {peer.index + 1} failed: {peer.error_tail()}", file=sys.stderr)
    finally:
        for peer in peers:
            peer.stop()
    good = [r for r in reports if r is not None]
    return _print_outcome(good, args, complete=not failed)


def _wait_for_peers(peers: list[PeerProcess], args: argparse.Namespace) -> None:
    """Wait for every peer to exit, showing progress; kill them all if they overrun."""
    start = time.monotonic()
    planned = args.seconds + args.settle + LINGER_S
    deadline = start + planned + FINISH_GRACE_S
    shown_phase = ""
    while any(peer.process.poll() is None for peer in peers):
        elapsed = time.monotonic() - start
        if time.monotonic() > deadline:
            _progress(f"peers still running after {elapsed:.0f} s; stopping them")
            for peer in peers:
                peer.process.kill()
                peer.process.wait()
            return
        if elapsed < args.seconds:
            phase = "peers press random keys"
        elif elapsed < args.seconds + args.settle:
            phase = "settling: stragglers and repairs arrive"
        else:
            phase = "peers reach the end tick and report"
        if sys.stderr.isatty() or phase != shown_phase:
            _progress(f"[{elapsed:4.0f} s / ~{planned:.0f} s] {phase}")
            shown_phase = phase
        running = next(peer for peer in peers if peer.process.poll() is None)
        try:
            running.process.wait(timeout=PROGRESS_INTERVAL_S)
        except subprocess.TimeoutExpired:
            continue
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _print_outcome(reports: list[PeerReport], args: argparse.Namespace, *, complete: bool) -> int:
    hashes = {r.state_hash for r in reports}
    agree = complete and len(hashes) == 1
    if args.json:
        outcome = {
            "agree": agree,
            "state_hash": next(iter(hashes)) if agree else None,
            "peers": [asdict(r) for r in reports],
        }
        print(json.dumps(outcome, sort_keys=True))
        return 0 if agree else 1
    print(
        f"{'peer id':>20} {'final tick':>10} {'events':>6} {'on time':>7} {'rollbacks':>9}"
        f" {'rb ticks':>8} {'dgrams lost':>11} state hash"
    )
    for r in reports:
        print(
            f"{r.peer:>20} {r.final_tick:>10} {r.events:>6} {r.live_events:>7}"
            f" {r.rollbacks:>9} {r.rollback_ticks:>8} {r.emulated_lost:>11}"
            f" {r.state_hash[:HASH_DISPLAY_CHARS]}"
        )
    emitted = sum(r.events_emitted for r in reports)
    if all(r.events == emitted for r in reports):
        print(f"every peer has all {emitted} events")
    else:
        print(f"events differ: {emitted} emitted, held {[r.events for r in reports]}")
    if agree:
        print(f"all {len(reports)} peers agree: {next(iter(hashes))}")
        return 0
    print(f"peers do NOT agree: {len(hashes)} distinct state hashes among {len(reports)} peers")
    return 1
