"""The two kinds of error in arcade-p2p, under one base class.

How this works: a mistake made by the program using the library (a bad argument, an
event payload that cannot be sent) raises :class:`UsageError` at once. Anything wrong with
what arrives from the network raises :class:`RemoteError` inside the protocol layer, where
it is caught, counted by its ``reason`` and logged; it never reaches the game loop. Both
derive from :class:`P2PError`, so ``except P2PError`` catches every error of the library.
Neither is used to signal a normal condition: a function that may find nothing returns
``None``.
"""

from __future__ import annotations

__all__ = ["P2PError", "RemoteError", "UsageError"]


class P2PError(Exception):
    """Base class of every error arcade-p2p raises on purpose."""


class UsageError(P2PError, ValueError):
    """The caller used the API wrongly (bad argument, unsendable payload, ...).

    It is also a :class:`ValueError`, so code written against the standard library's
    convention for bad values catches it too.
    """


class RemoteError(P2PError):
    """A datagram from the network is unacceptable and must be dropped.

    Attributes:
        reason: A short, stable, machine-readable reason used as a counter key
            (for example ``"bad_mac"``, ``"truncated"``, ``"malformed"``).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
