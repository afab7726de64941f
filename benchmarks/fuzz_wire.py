"""Fuzz the wire decoder with a million or more inputs.

The invariant: ``WireCodec.decode`` either returns a datagram or raises ``RemoteError``;
any other exception is a bug (printed with the input, and the exit code is 1). Inputs are
random bytes, mutated authentic datagrams, mutated bodies re-signed with the room key, and
*structured* messages: a well-formed body of a random type with the right number of fields,
then zero to two fields (or parts of them) replaced by hostile values, re-signed. Those pass
the MAC and the field-count check and so reach every field validator; the output lists how
often each validator refused a datagram.

    python benchmarks/fuzz_wire.py --cases 1000000 --seed 1 [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import sys
import time
from collections import Counter

import msgpack

from arcade_p2p.errors import RemoteError
from arcade_p2p.events import MAX_PAYLOAD_BYTES, MAX_SOURCE_ID, MAX_TICK, Event
from arcade_p2p.protocol.wire import (
    MAC_BYTES,
    MAX_FPS,
    MAX_HAVE_ITEMS,
    MAX_RANGE_ITEMS,
    VERSION,
    Events,
    Have,
    Hello,
    Summary,
    Sync,
    Want,
    WireCodec,
)

ROOM = "fuzz"
CODEC = WireCodec(ROOM)
VALID = [
    CODEC.encode(1, 2, 3, m)
    for m in (
        Hello(50, 10, True),
        Events(tuple(Event(10 + i, i, i + 1, "key", ["up", i, 1.5]) for i in range(5))),
        Sync(12.5, 4, 12.0, 1, 3.0, 1.0, 0.01, b"12345678", 4, False, ((20, bytes(16), bytes(8)),)),
        Summary(b"abcdefgh", 5, False),
        Have(((1, 2, 2), (3, 1, 4))),
        Want(((1, 1, 5),)),
    )
]


def sign(body: bytes) -> bytes:
    signed = b"AP" + bytes((VERSION,)) + body
    return signed + CODEC.mac(signed)


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


HOSTILE_VALUES = (
    -1, 0, 1, 2**31, MAX_TICK + 1, MAX_SOURCE_ID, 2**63, 2**64 - 1, -(2**63), -0.5,
    b"\x00" * (MAX_PAYLOAD_BYTES + 1), "x" * (MAX_PAYLOAD_BYTES + 1), [2**40] * 100,
)  # fmt: skip


def hostile_value(rng: random.Random) -> object:
    """A value likely to sit just outside what some field accepts."""
    if rng.random() < 0.5:
        return copy.deepcopy(rng.choice(HOSTILE_VALUES))  # a fresh copy: mutate() may edit it
    return random_value(rng)


def some_int(rng: random.Random, low: int, high: int) -> int:
    return rng.choice([low, high, rng.randint(low, high)])


def some_clock(rng: random.Random) -> float:
    return rng.choice([0.0, float(MAX_TICK), rng.random() * 1e6])


def valid_event(rng: random.Random) -> list[object]:
    name = rng.choice(["k", "key", "x" * 32])
    payload = rng.choice([None, 7, ["up", 1, 2.5], {"a": [1, 2]}, b"\x00" * 100])
    return [
        some_int(rng, 0, MAX_TICK),
        some_int(rng, 0, MAX_SOURCE_ID),
        some_int(rng, 1, 2**63 - 1),
        name,
        payload,
    ]


def valid_fields(rng: random.Random, kind: int) -> list[object]:
    """Well-formed fields of a message of type ``kind`` (1..6), random within range."""
    if kind == 1:
        return [some_int(rng, 1, MAX_FPS), some_int(rng, 1, 1_000_000), rng.random() < 0.5]
    if kind == 2:
        return [[valid_event(rng) for _ in range(rng.randrange(5))]]
    digest = rng.randbytes(8)
    count = some_int(rng, 0, 2**63 - 1)
    if kind == 3:
        return [
            some_clock(rng),
            some_int(rng, 0, MAX_SOURCE_ID),
            some_clock(rng),
            some_int(rng, 0, 65_535),
            rng.random() * 1e5,
            rng.choice([-1.0, rng.random() * 1e5]),
            rng.random(),
            digest,
            count,
            rng.random() < 0.5,
            [
                [some_int(rng, 0, MAX_TICK), rng.randbytes(16), rng.randbytes(8)]
                for _ in range(rng.randrange(3))
            ],
        ]
    if kind == 4:
        return [digest, count, rng.random() < 0.5]
    if kind == 5:
        highest = some_int(rng, 1, 2**63 - 1)
        marks = [some_int(rng, 0, MAX_SOURCE_ID), some_int(rng, -1, highest + 1), highest]
        return [[list(marks) for _ in range(rng.randrange(MAX_HAVE_ITEMS + 1))]]
    first = some_int(rng, 1, 2**62)
    ranges = [some_int(rng, 0, MAX_SOURCE_ID), first, some_int(rng, first, 2**63 - 1)]
    return [[list(ranges) for _ in range(rng.randrange(MAX_RANGE_ITEMS + 1))]]


def mutate(value: list[object], rng: random.Random) -> None:
    """Replace one element somewhere inside ``value`` (a nested list) with a hostile one."""
    target = value
    while True:
        if not target:
            target.append(hostile_value(rng))
            return
        index = rng.randrange(len(target))
        inner = target[index]
        if isinstance(inner, list) and rng.random() < 0.7:
            target = inner
            continue
        target[index] = hostile_value(rng)
        return


def structured_case(rng: random.Random) -> bytes:
    """A body of the right shape with at most two hostile parts, signed with the room key."""
    kind = rng.randrange(1, 7)
    fields = valid_fields(rng, kind)
    for _ in range(rng.choice([0, 1, 1, 1, 2])):
        mutate(fields, rng)
    header: list[object] = [kind, 1, 2, 3]
    if rng.random() < 0.05:
        header[rng.randrange(4)] = hostile_value(rng)
    if rng.random() < 0.02:  # the odd wrong field count
        fields = fields[:-1] if rng.random() < 0.5 else [*fields, 0]
    return sign(msgpack.packb([*header, *fields], use_bin_type=True))


def validator(exc: RemoteError) -> str:
    """Which check refused a datagram: the reason, plus the field for ``malformed``."""
    if exc.reason != "malformed":
        return exc.reason
    detail = re.split(r" (?:out of range|is not|has \d|too large|is negative)", exc.detail)[0]
    return f"malformed: {detail.split(':')[0]}"


def make_case(rng: random.Random) -> tuple[bool, bytes]:
    """A fuzz input and whether it is a structured one."""
    if rng.random() < 0.5:
        return True, structured_case(rng)
    return False, unstructured_case(rng)


def unstructured_case(rng: random.Random) -> bytes:
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
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    structured: Counter[str] = Counter()
    start = time.perf_counter()
    for i in range(args.cases):
        is_structured, data = make_case(rng)
        try:
            CODEC.decode(data)
            outcome = "decoded"
        except RemoteError as exc:
            outcome = validator(exc)
        except Exception as exc:  # the bug this tool exists to find
            print(f"case {i}: {type(exc).__name__}: {exc}; input {data.hex()}", file=sys.stderr)
            return 1
        (structured if is_structured else outcomes)[outcome] += 1
        if (i + 1) % 200_000 == 0 and not args.json:
            print(f"  {i + 1:,} cases...", file=sys.stderr)
    elapsed = time.perf_counter() - start
    if args.json:
        result = {"cases": args.cases, "seconds": round(elapsed, 2), "unstructured": outcomes,
                  "structured": structured}  # fmt: skip
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"{args.cases:,} cases in {elapsed:.1f} s, no exception but RemoteError")
    for title, counts in (("unstructured inputs", outcomes), ("structured messages", structured)):
        print(f"{title} ({sum(counts.values()):,}), by outcome / refusing check:")
        for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            print(f"  {reason:32} {count:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
