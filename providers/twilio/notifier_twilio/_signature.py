"""Compute and check the ``X-Twilio-Signature`` of webhook requests.

Twilio signs each webhook request with HMAC-SHA1, keyed by the account's auth
token. The signed string is the full URL it requested (scheme, host, path and
query) followed by every POST parameter, sorted by name and written as name
and value with no separator. The base64 digest travels in
``X-Twilio-Signature``.

Twilio's own helper libraries accept a signature computed over the URL with or
without an explicit default port (``:443`` for https, ``:80`` for http),
because Twilio's signer has not always been consistent about it; this module
does the same. A repeated parameter name contributes each of its values, in
sorted order, as Twilio's Python library does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "SIGNATURE_HEADER",
    "FormParams",
    "compute_signature",
    "signature_matches",
]

SIGNATURE_HEADER = "X-Twilio-Signature"

FormParams: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
"""POST parameters: a mapping of single values, or (name, value) pairs that may repeat a name."""

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _sorted_pairs(params: FormParams) -> list[tuple[str, str]]:
    pairs: Sequence[tuple[str, str]]
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    return sorted(pairs)


def compute_signature(auth_token: str, url: str, params: FormParams) -> str:
    """Return the base64 HMAC-SHA1 signature Twilio sends for ``url`` and ``params``.

    ``url`` must be exactly the URL Twilio requested, query string included.
    """
    payload = url + "".join(name + value for name, value in _sorted_pairs(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """Return ``url`` as given, without its default port and with it added."""
    parts = urlsplit(url)
    default_port = _DEFAULT_PORTS.get(parts.scheme.lower())
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets in the netloc
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: only the URL as given can match
        return [url]

    variants = [url]
    if default_port is None:
        return variants
    if port is None:
        with_port = f"{prefix}{host}:{default_port}"
        variants.append(urlunsplit(parts._replace(netloc=with_port)))
    elif port == default_port:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


def signature_matches(auth_token: str, url: str, params: FormParams, signature: str) -> bool:
    """Return whether ``signature`` is Twilio's signature of ``url`` and ``params``.

    The comparison takes the same time wherever the first difference is, so
    a caller cannot learn the expected signature byte by byte.
    """
    pairs = _sorted_pairs(params)
    received = signature.strip().encode("ascii", errors="replace")
    matched = False
    for candidate in _url_variants(url):
        expected = compute_signature(auth_token, candidate, pairs).encode("ascii")
        # Every variant is compared, so the time taken does not reveal which one matched.
        matched |= hmac.compare_digest(expected, received)
    return matched
