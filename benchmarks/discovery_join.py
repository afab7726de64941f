"""How long a newcomer waits to find a running room by LAN discovery, on this machine.

One running peer's :class:`~arcade_p2p.transport.discovery.Discovery` beacons on
loopback; ``--tries`` newcomers of the same room, one after another, each time
:meth:`Discovery.join` (probe, answer, return the running peer's address). Every try must
find the running peer; the script prints the median and largest wait. It uses a private
multicast group and port (never the well-known ones), so it cannot meet real peers.

    python benchmarks/discovery_join.py --tries 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import time

from arcade_p2p.protocol.wire import WireCodec
from arcade_p2p.transport.discovery import ANSWER_GAP_S, GROUP_ENV, PORT_ENV, Discovery

RUNNING_ID = 1
RUNNING_ADDRESS = ("127.0.0.1", 40_001)
"""The running peer's announced game address (nothing needs to listen there)."""
MS_PER_S = 1000.0


def main() -> int:
    """Run the tries and print the figures; the exit code is 1 if a try found nobody."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tries", type=int, default=20, help="newcomers, one after another")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        os.environ[PORT_ENV] = str(probe.getsockname()[1])
    os.environ[GROUP_ENV] = f"239.192.{random.randrange(256)}.{random.randrange(1, 255)}"
    codec = WireCodec(f"benchmark-{random.getrandbits(32)}")
    waits: list[float] = []
    found_all = True
    with Discovery(codec, peer_id=RUNNING_ID, game_address=RUNNING_ADDRESS) as running:
        running.join(timeout_s=0.0)
        for index in range(args.tries):
            address = ("127.0.0.1", RUNNING_ADDRESS[1] + 1 + index)
            with Discovery(codec, peer_id=RUNNING_ID + 1 + index, game_address=address) as new:
                started = time.perf_counter()
                found = new.join()
                waits.append(time.perf_counter() - started)
                found_all &= found == [RUNNING_ADDRESS]
            time.sleep(2 * ANSWER_GAP_S)  # newcomers arrive apart, not in a burst
    result = {
        "tries": args.tries,
        "found_all": found_all,
        "median_ms": round(statistics.median(waits) * MS_PER_S, 2),
        "max_ms": round(max(waits) * MS_PER_S, 2),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"{args.tries} newcomers, found the running peer: {found_all}; wait median"
            f" {result['median_ms']} ms, max {result['max_ms']} ms"
        )
    return 0 if found_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
