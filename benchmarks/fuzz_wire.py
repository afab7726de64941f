"""Fuzz the wire decoder with a million or more inputs.

The invariant: ``WireCodec.decode`` either returns a datagram or raises ``RemoteError``;
any other exception is a bug (printed with the input, and the exit code is 1). Inputs are
random bytes, mutated authentic datagrams, and mutated bodies re-signed with the room key
(so the body parser, not just the MAC check, is exercised).

    python benchmarks/fuzz_wire.py --cases 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import hmac
import random
import sys
import time
from collections import Counter

import msgpack

from arcade_p2p.errors import RemoteError
from arcade_p2p.events import Event
from arcade_p2p.protocol.wire import (
    MAC_BYTES,
    Events,
    Have,
    Hello,
    Summary,
    Sync,
    Want,
    WireCodec,
    room_key,
)

ROOM = "fuzz"
CODEC = WireCodec(ROOM)
KEY = room_key(ROOM)
VALID = [
    CODEC.encode(1, 2, 3, m)
    for m in (
        Hello(50, 10, True),
        Events(tuple(Event(10 + i, i, i + 1, "key", ["up", i, 1.5]) for i in range(5))),
        Sync(12.5, 4, 12.0, 1, 3.0, 1.0, 0.01, b"12345678", 4, False),
        Summary(b"abcdefgh", 5, False),
        Have(((1, 2), (3, 4))),
        Want(((1, 1, 5),)),
    )
]


def sign(body: bytes) -> bytes:
    signed = b"AP\x01" + body
    return signed + hmac.digest(KEY, signed, "sha256")[:MAC_BYTES]


def random_value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return rng.randrange(-(2**63), 2**64)
    if choice == 1:
        return rng.choice([0.0, -1.0, float("inf"), float("nan"), rng.random() * 1e12])
    if choice == 2:
        return rng.choice(["", "key", "x" * rng.randrange(100)])
    if choice == 3:
        return rng.randbytes(rng.randrange(12))
    if choice == 4:
        return rng.choice([None, True, False])
    if choice == 5:
        return rng.randrange(0, 8)
    if choice == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(7))]
    if choice == 7:
        return {str(i): random_value(rng, depth + 1) for i in range(rng.randrange(3))}
    return [rng.randrange(1, 7), 1, 2, 3, *(random_value(rng, depth + 1) for _ in range(4))]


def make_case(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1300))
    if kind == 1:
        data = bytearray(rng.choice(VALID))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data)
    if kind == 2:
        body = bytearray(rng.choice(VALID)[3:-MAC_BYTES])
        for _ in range(rng.randint(1, 3)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        return sign(bytes(body))
    return sign(msgpack.packb(random_value(rng), use_bin_type=True))


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz the arcade-p2p wire decoder.")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()
    for i in range(args.cases):
        data = make_case(rng)
        try:
            CODEC.decode(data)
            outcomes["decoded"] += 1
        except RemoteError as exc:
            outcomes[exc.reason] += 1
        except Exception as exc:  # the bug this tool exists to find
            print(f"case {i}: {type(exc).__name__}: {exc}; input {data.hex()}", file=sys.stderr)
            return 1
        if (i + 1) % 200_000 == 0:
            print(f"  {i + 1:,} cases...", file=sys.stderr)
    elapsed = time.perf_counter() - start
    print(f"{args.cases:,} cases in {elapsed:.1f} s, no exception but RemoteError")
    for reason, count in outcomes.most_common():
        print(f"  {reason:16} {count:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
