"""A background thread that waits on one socket and can be woken or stopped.

How this works: the thread runs the owner's loop, which calls :meth:`SocketThread.wait`
to sleep until the socket is readable, the owner calls :meth:`SocketThread.wake` from
another thread, or a timeout passes. A wake writes one byte into a private socket pair
that the same selector watches, so it interrupts the wait at once on every platform.
:meth:`SocketThread.stop` wakes the loop (the owner's loop sees its own "closed" flag and
returns), joins the thread and closes both the socket and the pair.

The UDP transport (:mod:`arcade_p2p.transport.udp`) and LAN discovery
(:mod:`arcade_p2p.transport.discovery`) each own one.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable

__all__ = ["THREAD_JOIN_TIMEOUT_S", "SocketThread"]

THREAD_JOIN_TIMEOUT_S = 2.0
"""How long :meth:`SocketThread.stop` waits for the thread to end."""
WAKE_DRAIN_BYTES = 64


class SocketThread:
    """Runs ``loop`` on a daemon thread named ``name``, waiting on ``sock``.

    Args:
        sock: The socket the loop reads (non-blocking); closed by :meth:`stop`.
        loop: The thread's body; it returns once its owner is closed.
        name: The thread's name.
    """

    def __init__(self, sock: socket.socket, loop: Callable[[], None], name: str) -> None:
        self.sock = sock
        self._wake_receiver, self._wake_sender = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._wake_receiver, selectors.EVENT_READ)
        self._thread = threading.Thread(target=loop, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wait(self, timeout: float | None) -> tuple[bool, bool]:
        """Sleep until the socket is readable, a wake, or ``timeout`` seconds (None: no
        limit). Called by the loop only.

        Returns:
            ``(readable, woken)``; a wake is consumed.
        """
        readable = woken = False
        for key, _ in self._selector.select(timeout):
            if key.fileobj is self._wake_receiver:
                self._wake_receiver.recv(WAKE_DRAIN_BYTES)
                woken = True
            else:
                readable = True
        return readable, woken

    def wake(self) -> None:
        """Interrupt the loop's :meth:`wait` (from any thread)."""
        self._wake_sender.send(b"\0")

    def stop(self) -> None:
        """Wake the loop, wait for the thread to end, and close the sockets.

        The owner sets its "closed" flag first, so that the woken loop returns.
        """
        self.wake()
        self._thread.join(THREAD_JOIN_TIMEOUT_S)
        self._selector.close()
        self.sock.close()
        self._wake_receiver.close()
        self._wake_sender.close()
