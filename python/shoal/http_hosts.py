"""Which Host and Origin headers the HTTP endpoint accepts: its defence against DNS rebinding.

A web page whose domain its owner rebinds to 127.0.0.1 reaches a loopback server with its own name
in ``Host`` (and in ``Origin``, when a browser sends it). The endpoint therefore serves only the
loopback names and the names the operator allows (a reverse proxy's), on any port unless a port
is given. Both headers are parsed whole, as RFC 3986 ``host[:port]`` (an ``Origin`` as
``http(s)://host[:port]``): host names compare in any case, a port is 1 to 5 digits from 1 to
65535, and anything else (user information, a path, a second header) is refused rather than
matched by prefix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shoal.excerpts import excerpt

# One DNS label: letters, digits, '-' and '_' (container and intranet names use it), not starting
# or ending with '-'. A name is labels joined by dots; a dotted quad is one too.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_AUTHORITY = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[^:]*))?")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<authority>.*)")
_MAX_PORT = 65535

EXPECTED_FORM = (
    "NAME or NAME:PORT, e.g. mcp.example.com, mcp.example.com:8443, 192.0.2.7 or [2001:db8::7]"
)


@dataclass(frozen=True)
class Authority:
    """A host (lower-case name, IPv4 address, or IPv6 literal in brackets) and its port, if any."""

    host: str
    port: int | None = None


LOOPBACK = (Authority("127.0.0.1"), Authority("localhost"), Authority("[::1]"))


def parse_authority(text: str) -> Authority | None:
    """``text`` as RFC 3986 ``host[:port]``, the host normalised; None when it is not one."""
    match = _AUTHORITY.fullmatch(text)
    if match is None:
        return None
    host = _host(match["host"])
    port = None if match["port"] is None else _port(match["port"])
    if host is None or (match["port"] is not None and port is None):
        return None
    return Authority(host, port)


def parse_allowed_host(text: str) -> Authority:
    """An ``--allow-host`` value: ``NAME`` (any port) or ``NAME:PORT``.

    Raises:
        ValueError: ``text`` is not of that form; the message says why and what is expected.
    """
    authority = parse_authority(text.strip()) if text.strip() else None
    if authority is not None:
        return authority
    raise ValueError(f"{excerpt(text)} {_why_not_a_host(text.strip())}; expected {EXPECTED_FORM}")


def _why_not_a_host(text: str) -> str:
    if not text:
        return "names no host"
    if "://" in text:
        return "is a URL: give only its host name (and port)"
    if "*" in text:
        return "has a wildcard: name each host (a name without a port is served on any port)"
    if any(character.isspace() for character in text):
        return "has white space in it"
    if "/" in text:
        return "has a path: give only the host name (and port)"
    if "@" in text:
        return "has user information (an @): give only the host name (and port)"
    if text.count(":") > 1 and not text.startswith("["):
        return "is an IPv6 address without brackets: write it as [2001:db8::7]"
    host, colon, port = text.rpartition(":")
    if colon and host and not text.endswith("]") and _port(port) is None:
        return f"has port {port!r}, not a number from 1 to {_MAX_PORT}"
    return "is not a host name or address"


def _host(text: str) -> str | None:
    """The host part, lower-cased (an IPv6 literal compressed), or None when it is not one."""
    if text.startswith("["):
        try:
            address = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            return None
        return f"[{address.compressed}]"
    name = text.lower()
    return name if name.isascii() and _NAME.fullmatch(name) else None


def _port(text: str) -> int | None:
    """The port ``text`` names, or None when it is not 1 to 5 ASCII digits from 1 to 65535."""
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        return None
    port = int(text)
    return port if 1 <= port <= _MAX_PORT else None


class HostPolicy:
    """The Host and Origin headers a request may carry: loopback names and ``allowed_hosts``.

    Raises:
        ValueError: An allowed host is not ``NAME`` or ``NAME:PORT``.
    """

    def __init__(self, allowed_hosts: Sequence[str] = ()) -> None:
        self._allowed = (*LOOPBACK, *(parse_allowed_host(host) for host in allowed_hosts))

    def allows_host(self, header: str) -> bool:
        """Whether a ``Host`` header names an allowed host (and port, when one was given)."""
        return self._allows(parse_authority(header))

    def allows_origin(self, header: str) -> bool:
        """Whether an ``Origin`` header is ``http(s)://`` on an allowed host (and port)."""
        match = _ORIGIN.fullmatch(header.lower())
        return match is not None and self._allows(parse_authority(match["authority"]))

    def _allows(self, authority: Authority | None) -> bool:
        if authority is None:
            return False
        return any(
            authority.host == allowed.host and allowed.port in (None, authority.port)
            for allowed in self._allowed
        )
