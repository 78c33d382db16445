"""Which address a request came from, and how long a client that keeps failing must wait.

Behind a reverse proxy every request arrives from the proxy's address; the client's
is in X-Forwarded-For, which anyone can also write. Each proxy appends the address it
received from, so the list is read from the right: skip the hops that are our own
trusted proxies, and the first address that is not one is the client (anything further
left was written by the client and proves nothing). Stdlib only (``ipaddress``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> list[Network]:
    """``10.0.0.1``, ``10.0.0.0/8``, ``::1``: raises ValueError naming a bad entry."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(remote_addr: str, forwarded_for: str, trusted: Sequence[Network]) -> str:
    """The client's address: REMOTE_ADDR unless that is a trusted proxy, then the
    right-most address in X-Forwarded-For that is not a trusted proxy.

    A malformed entry stops the walk at the last hop we trust (the one that handed it
    over), so garbage cannot pick an address for the attacker."""
    peer = _address(remote_addr)
    if peer is None:
        return remote_addr[:45]
    if not forwarded_for or not _trusted(peer, trusted):
        return str(peer)
    current = peer
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            return str(current)
        current = address
        if not _trusted(address, trusted):
            return str(address)
    return str(current)  # every hop is ours: the left-most is the closest we know


def backoff_seconds(failures: int, *, free: int, base: int = 1, cap: int = 900) -> int:
    """How long after its last failure a client address must wait before its next try.

    The first ``free`` failures cost nothing; after that the wait doubles with each
    failure (1 s, 2 s, 4 s … up to ``cap``). An attacker spraying guesses slows down
    geometrically; a clinic sharing that address waits seconds, not a lock-out."""
    if failures < free:
        return 0
    return min(cap, base * (1 << min(failures - free, 30)))
