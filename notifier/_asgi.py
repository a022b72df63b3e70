"""Plain ASGI plumbing for the delivery-report receiver: no framework needed.

Only what the receiver uses of the ASGI 3 HTTP protocol: reading the
request from the scope and the body from ``receive``, and sending one
complete response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs

__all__ = [
    "Receive",
    "Scope",
    "Send",
    "client_address",
    "query_values",
    "read_body",
    "request_headers",
    "request_url",
    "route_path",
    "send_response",
    "with_query",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def route_path(scope: Scope) -> str:
    """Return the request path below the app's mount point, without outer slashes."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    # Servers and routers that mount an app put the mount prefix in
    # root_path; current ones also keep it at the start of path.
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path.strip("/")


def query_values(scope: Scope, name: str) -> list[str]:
    """Return every value of the query parameter ``name``, percent-decoded."""
    query = scope.get("query_string", b"").decode("latin-1")
    return parse_qs(query, keep_blank_values=True).get(name, [])


def client_address(scope: Scope) -> str | None:
    """Return the peer as ``host:port``, or ``None`` when the scope has no client."""
    client = scope.get("client")
    if not client:
        return None
    return f"{client[0]}:{client[1]}"


def request_headers(scope: Scope) -> dict[str, str]:
    """Return the request headers by lower-case name; repeated headers are comma-joined."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def with_query(url: str, scope: Scope) -> str:
    """Append the request's query string, if any, to ``url``."""
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


def request_url(scope: Scope, headers: Mapping[str, str]) -> str:
    """Rebuild the full URL the client requested, from the Host header and the scope."""
    host = headers.get("host")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root_path and not path.startswith(root_path):
        path = root_path + path
    return with_query(f"{scope.get('scheme', 'http')}://{host}{path}", scope)


async def read_body(receive: Receive, max_size: int) -> bytes | None:
    """Read the request body, stopping as soon as it exceeds ``max_size`` bytes.

    Returns ``None`` when the client disconnected. A body over the limit is
    returned cut after the chunk that crossed it, so the caller can reject it
    without reading the rest.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > max_size or not message.get("more_body", False):
            return b"".join(chunks)


async def send_response(
    send: Send, status: int, headers: Sequence[tuple[str, str]], body: bytes
) -> None:
    """Send a complete response with a Content-Length header."""
    raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw_headers.append((b"content-length", str(len(body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
