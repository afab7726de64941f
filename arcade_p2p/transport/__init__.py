"""Real networking for arcade-p2p: a UDP transport and user-space link emulation.

How this works: :class:`UdpTransport` is the only code in the package that touches
sockets and threads; :class:`LinkEmulation` (sans-io) can delay, drop and duplicate what it
receives, as the one :class:`~arcade_p2p.link_model.LinkModel` says,
so that real multi-process runs can imitate a slow, lossy network on loopback. The
real-time loop that connects a transport to a :class:`~arcade_p2p.session.Session` is
:class:`arcade_p2p.runner.PeerRunner`.
"""

from arcade_p2p.link_model import LinkModel
from arcade_p2p.transport.emulation import Address, EmulationStats, LinkEmulation
from arcade_p2p.transport.udp import TransportStats, UdpTransport, parse_address

__all__ = [
    "Address",
    "EmulationStats",
    "LinkEmulation",
    "LinkModel",
    "TransportStats",
    "UdpTransport",
    "parse_address",
]
