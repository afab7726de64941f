"""The floor of one datagram with one event: what the wire codec costs, and its parts.

Prints the encode and the validated decode of a datagram carrying a single event beside
the parts no decoder avoids: one msgpack unpack, one keyed BLAKE2b (a prepared state
copied, fed the body, finished), one constant-time comparison of the MAC, and building
the ``Event`` and ``Events`` objects. Process CPU time (steadier on a busy machine);
medians of repeated batches. Asserts nothing.

    python benchmarks/codec_floor.py          # readable
    python benchmarks/codec_floor.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import time
from collections.abc import Callable

import msgpack

from arcade_p2p.events import Event
from arcade_p2p.protocol.wire import HEADER, MAC_BYTES, Events, WireCodec, room_key

BATCHES = 40
PER_BATCH = 5000


def median_us(step: Callable[[], object]) -> float:
    """Median CPU time of one call of ``step``, in microseconds."""
    samples = []
    for _ in range(BATCHES):
        start = time.process_time()
        for _ in range(PER_BATCH):
            step()
        samples.append((time.process_time() - start) / PER_BATCH * 1e6)
    return statistics.median(samples)


def figures() -> dict[str, float]:
    """The codec's cost for one single-event datagram, and its irreducible parts."""
    codec = WireCodec("lobby")
    message = Events((Event(1000, 2**40, 1, "key", "left"),))
    data = codec.encode(7, 1, 5, message)
    body = data[len(HEADER) : -MAC_BYTES]
    keyed = hashlib.blake2b(key=room_key("lobby"), digest_size=MAC_BYTES)
    keyed.update(HEADER)
    mac = data[-MAC_BYTES:]

    def blake2b() -> bytes:
        h = keyed.copy()
        h.update(body)
        return h.digest()

    parts = {
        "msgpack_unpack_us": median_us(lambda: msgpack.unpackb(body, raw=False)),
        "blake2b_mac_us": median_us(blake2b),
        "compare_mac_us": median_us(lambda: hmac.compare_digest(mac, mac)),
        "event_objects_us": median_us(lambda: Events((Event(1000, 2**40, 1, "key", "left"),))),
    }
    return {
        "encode_us": median_us(lambda: codec.encode(7, 1, 5, message)),
        "decode_us": median_us(lambda: codec.decode_parts(data)),
        **parts,
        "floor_us": sum(parts.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = {key: round(value, 3) for key, value in figures().items()}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
