"""The two kinds of error in arcade-p2p.

How this works: a mistake made by the program using the library (a bad argument, an
event payload that cannot be sent) raises :class:`UsageError` at once. Anything wrong with
what arrives from the network raises :class:`RemoteError` inside the protocol layer, where
it is caught, counted by its ``reason`` and logged; it never reaches the game loop.
"""

from __future__ import annotations

__all__ = ["RemoteError", "UsageError"]


class UsageError(ValueError):
    """The caller used the API wrongly (bad argument, unsendable payload, ...)."""


class RemoteError(Exception):
    """A datagram from the network is unacceptable and must be dropped.

    Attributes:
        reason: A short, stable, machine-readable reason used as a counter key
            (for example ``"bad_mac"``, ``"truncated"``, ``"malformed"``).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
