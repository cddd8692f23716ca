"""Serve the MCP server over streamable HTTP, safely by default.

The endpoint binds the loopback address unless told otherwise. The SDK's DNS-rebinding protection
is always on: a request whose Host header is not an allowed host gets 421, one whose Origin is not
an allowed origin gets 403. Behind a reverse proxy, allow the proxy's public host name. With a
bearer token (from ``SHOAL_HTTP_TOKEN`` or a file), every request must carry
``Authorization: Bearer <token>``; the comparison takes constant time and the token is never
logged or echoed.

A client that disconnects in the middle of a call is taken to have cancelled it: the tool stops
at its next cancellation check, as if the client had sent ``notifications/cancelled``, rather
than running to the end for an answer no one will read.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

TOKEN_ENVIRONMENT_VARIABLE = "SHOAL_HTTP_TOKEN"
MCP_PATH = "/mcp"

# Large enough for the longest text a tool accepts (shoal.server.MAX_TEXT_CHARACTERS) even when a
# client escapes every character as \uXXXX; the SDK's default (4 MiB) would refuse long texts with
# a bare HTTP 413 that stdio clients never see.
MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


# A bearer token is a line; a token file far larger is a wrong path, not a token.
MAX_TOKEN_FILE_BYTES = 64 * 1024


def read_token(token_file: Path | None = None) -> str | None:
    """The bearer token clients must send: from `token_file` if given, else the environment.

    Raises:
        ValueError: The file cannot be read or holds no token, or the environment variable is
            set but empty.
    """
    if token_file is not None:
        from shoal.files import read_text_file

        try:
            # Read as any file shoal reads: a pipe or /dev/zero is refused, not waited on.
            token = read_text_file(token_file, max_file_bytes=MAX_TOKEN_FILE_BYTES,
                                   raise_with=None).strip()
        except ValueError as error:
            raise ValueError(f"the token file: {error}") from None
        if not token:
            raise ValueError(f"the token file {token_file} is empty")
        return token
    if TOKEN_ENVIRONMENT_VARIABLE not in os.environ:
        return None
    token = os.environ[TOKEN_ENVIRONMENT_VARIABLE].strip()
    if not token:
        # Set but empty is a deployment mistake (e.g. an unset variable expanded); serving without
        # authentication then would be the silent opposite of what was asked.
        raise ValueError(
            f"{TOKEN_ENVIRONMENT_VARIABLE} is set but empty: give it a token, or unset it to "
            "serve without authentication"
        )
    return token


def transport_security(allowed_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """DNS-rebinding protection for the loopback names plus `allowed_hosts` (a proxy's names).

    An allowed host is ``name`` (any port) or ``name:port``; browsers on it may send requests with
    an ``http://`` or ``https://`` Origin of the same name.
    """
    hosts: list[str] = []
    origins: list[str] = []
    for name in (*LOOPBACK_HOSTS, *allowed_hosts):
        has_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
        hosts.extend([name] if has_port else [name, f"{name}:*"])
        for scheme in ("http", "https"):
            origins.extend(
                [f"{scheme}://{name}"]
                if has_port
                else [f"{scheme}://{name}", f"{scheme}://{name}:*"]
            )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class BearerTokenMiddleware:
    """ASGI middleware: HTTP requests without the right bearer token get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self._app(scope, receive, send)
            return

        # Only the fact of the refusal is logged, never what the client sent.
        logger.warning(
            "refused %s %s: missing or wrong bearer token", scope["method"], scope["path"]
        )
        body = b"missing or wrong bearer token\n"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", b'Bearer realm="shoal"'),
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        sent = [value for key, value in scope["headers"] if key == b"authorization"]
        if len(sent) != 1:
            return False
        # The scheme name is case-insensitive (RFC 9110, 11.1); the token is compared in
        # constant time, whatever its length.
        scheme, _, credentials = sent[0].strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(
            credentials.strip(), self._token
        )


class CancelOnDisconnect:
    """ASGI middleware: a session's request whose client hangs up before the answer is cancelled.

    The SDK keeps serving such a request (a client could reconnect and replay, but only with an
    event store, which shoal does not keep), so a long count would run on for nobody. Here, once
    the client has gone and the response is unfinished, the app receives the protocol's own
    ``notifications/cancelled`` for that request id in that session. Stateless requests need
    none of this: their per-request server ends with the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        if scope["type"] != "http" or scope["method"] != "POST" or b"mcp-session-id" not in headers:
            await self._app(scope, receive, send)
            return

        body: list[bytes] = []
        state = {"disconnected": False, "answered": False}

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
            elif message["type"] == "http.disconnect":
                state["disconnected"] = True
            return message

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                state["answered"] = True
            await send(message)

        await self._app(scope, watched_receive, watched_send)
        if state["disconnected"] and not state["answered"]:
            request_id = _request_id(b"".join(body))
            if request_id is not None:
                await self._cancel(scope, headers, request_id)

    async def _cancel(self, scope: Scope, headers: dict[bytes, bytes], request_id: Any) -> None:
        logger.debug("client left before the answer to request %r: cancelling it", request_id)
        notice = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "the client disconnected"},
            }
        ).encode()
        kept = (b"host", b"origin", b"mcp-session-id", b"mcp-protocol-version")
        notice_headers = [(name, value) for name, value in headers.items() if name in kept]
        notice_headers += [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
            (b"content-length", str(len(notice)).encode()),
        ]
        sent = False

        async def notice_receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": notice, "more_body": False}

        async def discard(message: Message) -> None:
            del message

        await self._app({**scope, "headers": notice_headers}, notice_receive, discard)


def _request_id(body: bytes) -> Any:
    """The id of the JSON-RPC request in `body`, or None (a notification, not JSON, ...)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or "method" not in message:
        return None
    request_id = message.get("id")
    return request_id if isinstance(request_id, (str, int)) else None


def http_app(
    server: MCPServer[Any],
    *,
    allowed_hosts: Sequence[str] = (),
    token: str | None = None,
    stateless: bool = False,
) -> ASGIApp:
    """The ASGI application serving `server` at ``/mcp``, both protocol eras.

    Args:
        server: The MCP server.
        allowed_hosts: Host names besides the loopback ones that clients may address (a proxy's).
        token: Bearer token every request must carry; None serves without authentication.
        stateless: Keep no session between requests (replicas behind a load balancer).
    """
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        transport_security=transport_security(allowed_hosts),
        max_request_body_size=MAX_REQUEST_BODY_BYTES,
    )
    app = CancelOnDisconnect(app)
    if token is not None:
        app = BearerTokenMiddleware(app, token)
    return app


def serve_http(
    server: MCPServer[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    allowed_hosts: Sequence[str] = (),
    token: str | None = None,
    stateless: bool = False,
) -> None:
    """Serve `server` over streamable HTTP with uvicorn until interrupted."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("binding %s: shoal's HTTP endpoint is reachable beyond this machine", host)
    # At DEBUG, sse-starlette logs every response chunk whole: the user's texts and whatever a
    # tool echoes. Even a verbose log keeps only what shoal itself chooses to say.
    logging.getLogger("sse_starlette").setLevel(logging.INFO)
    app = http_app(server, allowed_hosts=allowed_hosts, token=token, stateless=stateless)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
