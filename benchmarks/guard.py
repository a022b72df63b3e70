"""Keep every connection of a benchmark client process on loopback.

Two layers. ``require_loopback_url()`` checks the base URL a client was
configured with before it sends anything. ``install_loopback_guard()``
patches name resolution and ``socket.connect`` in the whole process, so a
request that a client builds from some other URL (a constant we missed, a
redirect) fails with ``LoopbackViolation`` instead of leaving the machine.
Standard library only: it runs inside the peer environments too.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LoopbackViolation", "install_loopback_guard", "is_loopback", "require_loopback_url"]

# Names that resolve to loopback without asking a DNS server.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class LoopbackViolation(RuntimeError):
    """A benchmark client tried to reach a host that is not on loopback."""


def is_loopback(host: str | bytes | None) -> bool:
    """Return whether ``host`` is a loopback address (127.0.0.0/8 or ::1) or ``localhost``."""
    if host is None:
        return False
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def require_loopback_url(url: str, *, label: str = "base URL") -> str:
    """Return ``url`` if its host is 127.0.0.1; raise ``LoopbackViolation`` otherwise.

    Only the literal address is accepted, not ``localhost``, so no resolver
    is involved in deciding where the benchmark traffic goes.
    """
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1":
        raise LoopbackViolation(
            f"the {label} {url!r} does not point at 127.0.0.1; the benchmark only talks to "
            "the local simulator, so this client is skipped"
        )
    return str(url)


_installed = False


def install_loopback_guard() -> None:
    """Make every outgoing connection of this process to a non-loopback host fail.

    Patches ``socket.getaddrinfo`` (used by asyncio, httpx, aiohttp's default
    resolver and requests) and ``socket.socket.connect``/``connect_ex`` (used
    by every TCP client, asyncio included). Unix sockets and other families
    are refused as well: no benchmark client needs them. Idempotent.
    """
    global _installed
    if _installed:
        return
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            raise LoopbackViolation(f"name resolution of {host!r} blocked: not a loopback host")
        return original_getaddrinfo(host, *args, **kwargs)

    def check_address(sock: Any, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise LoopbackViolation(f"connection on socket family {sock.family!r} blocked")
        host = address[0] if isinstance(address, tuple) and address else None
        if not is_loopback(host):
            raise LoopbackViolation(f"connection to {address!r} blocked: not a loopback address")

    def guarded_connect(self: Any, address: Any) -> None:
        check_address(self, address)
        original_connect(self, address)

    def guarded_connect_ex(self: Any, address: Any) -> int:
        check_address(self, address)
        return original_connect_ex(self, address)

    socket.getaddrinfo = guarded_getaddrinfo
    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    _installed = True
