"""Serve the MCP server over streamable HTTP, safely by default.

The endpoint binds the loopback address unless told otherwise. DNS-rebinding protection is always
on: a request whose Host header is not an allowed host gets 421, one whose Origin is not an
allowed origin gets 403 (`shoal.http_hosts` says which are). Behind a reverse proxy, allow the
proxy's public host name. With a
bearer token (from ``SHOAL_HTTP_TOKEN`` or a file), every request must carry
``Authorization: Bearer <token>``; the comparison takes constant time and the token is never
logged or echoed.

A client that disconnects in the middle of a call is taken to have cancelled it: the tool stops
at its next cancellation check, as if the client had sent ``notifications/cancelled``, rather
than running to the end for an answer no one will read. One that hangs up before its request body
has arrived is logged as one line, not as the SDK's error with a traceback; one that stalls before
its body has wholly arrived gets 408 once the body deadline passes, and its connection is closed.
A body over the size limit gets 413; a body that is no JSON (-32700) or JSON that is no JSON-RPC
message (-32600) gets 400 with its request's id when it still yields one and the message stdio
gives (an escaped lone surrogate is named where it is), and so does one that gives a key twice in
an object (-32602 in the params, naming the argument; -32600 in the message's own members); each
refusal is logged as one line.

Ctrl-C stops the server once the requests still running have been answered; a second one stops
it at once, each request still running cancelled with one line in the log, and either way the
process ends quietly with status 0.
"""

from __future__ import annotations

import asyncio
import codecs
import hmac
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from anyio.lowlevel import checkpoint
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import JSONRPCError, jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoal.excerpts import grouped_number
from shoal.http_hosts import HostPolicy
from shoal.privacy import secrets_hidden
from shoal.stdio_transport import message_refusal, unreadable_message_reply

logger = logging.getLogger(__name__)

TOKEN_ENVIRONMENT_VARIABLE = "SHOAL_HTTP_TOKEN"
MCP_PATH = "/mcp"

# Large enough for the longest text a tool accepts (shoal.server.MAX_TEXT_CHARACTERS) even when a
# client escapes every character as \uXXXX; the SDK's default (4 MiB) would refuse long texts with
# a bare HTTP 413 that stdio clients never see.
MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024

# How long a request's body may take to arrive whole, from the end of its headers: the largest
# body the limit above lets through arrives in time at 2.24 MB/s. Without a deadline, a client that
# sent headers and part of a body and then stalled would hold its connection for good.
DEFAULT_BODY_TIMEOUT_S = 30.0

# How long a session may have no request in flight (and no open event stream) before it is ended:
# the SDK's default, 30 minutes. A client that never ends its session (no DELETE) leaves it in
# memory until then, about 36 kB each; the SDK opens at most 10,000 at a time.
DEFAULT_SESSION_IDLE_TIMEOUT_S = 30 * 60.0


# A bearer token is a line; a token file far larger is a wrong path, not a token.
MAX_TOKEN_FILE_BYTES = 64 * 1024


def read_token(token_file: Path | None = None) -> str | None:
    """The bearer token clients must send: from `token_file` if given, else the environment.

    White space around the token (a file's final line break) is ignored.

    Raises:
        ValueError: The file cannot be read or holds no token, the environment variable is set
            but empty, or the token holds a character an HTTP header cannot carry (a line break,
            a control character, one that is not ASCII), which no client could then send.
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
        _check_header_value(token, f"the token file {token_file}")
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
    _check_header_value(token, TOKEN_ENVIRONMENT_VARIABLE)
    return token


def _check_header_value(token: str, source: str) -> None:
    """Refuse a token that no ``Authorization`` header could carry: the server would start and
    refuse every client. The message names the first such character's kind and place, never the
    token."""
    for number, character in enumerate(token, start=1):
        if " " <= character <= "~":
            continue
        raise ValueError(
            f"{source} holds a token an HTTP header cannot carry: its character {number:,} is "
            f"{_character_kind(character)}. A bearer token is one line of printable ASCII "
            "characters; only the white space around it is ignored"
        )


def _character_kind(character: str) -> str:
    if character in "\r\n":
        return "a line break"
    if character == "\t":
        return "a tab"
    if not character.isascii():
        return "not ASCII"
    return "a control character"


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
        _log_refused(scope, "missing or wrong bearer token")
        await _send_text(send, 401, "missing or wrong bearer token\n",
                         [(b"www-authenticate", b'Bearer realm="shoal"')])

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


class HostOriginCheck:
    """ASGI middleware: DNS-rebinding protection, before the body is read or a session is made.

    A request gets 421 unless it carries exactly one ``Host`` header naming an allowed host, and
    403 when it carries more than one ``Origin`` header or one that is not ``http(s)://`` on an
    allowed host (see `shoal.http_hosts`). No ``Origin`` at all is a client that is not a browser.
    """

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope["headers"]) if scope["type"] == "http" else None
        if refusal is None:
            await self._app(scope, receive, send)
            return

        status, body, reason = refusal
        _log_refused(scope, reason)
        await _send_text(send, status, body)

    def _refusal(self, headers: Sequence[tuple[bytes, bytes]]) -> tuple[int, str, str] | None:
        """The status, body and logged reason of the refusal, or None to serve the request."""
        hosts = [value.decode("latin-1") for name, value in headers if name == b"host"]
        origins = [value.decode("latin-1") for name, value in headers if name == b"origin"]
        if len(hosts) != 1:
            return 421, "Invalid Host header", f"{len(hosts)} Host headers, not one"
        if not self._policy.allows_host(hosts[0]):
            return 421, "Invalid Host header", (
                f"Host {_quoted(hosts[0])} is not a loopback name or an allowed host"
            )
        if len(origins) > 1:
            return 403, "Invalid Origin header", f"{len(origins)} Origin headers"
        if origins and not self._policy.allows_origin(origins[0]):
            return 403, "Invalid Origin header", (
                f"Origin {_quoted(origins[0])} is not http(s):// on an allowed host"
            )
        return None


def _log_refused(scope: Scope, reason: str) -> None:
    """Log the refusal of a request, with secrets and personal data in what the client chose
    (the path, a header quoted in ``reason``) replaced by ``[kind]``."""
    logger.warning("%s", secrets_hidden(f"refused {scope['method']} {scope['path']}: {reason}"))


def _quoted(header: str) -> str:
    """A header value as the log shows it: quoted, and cut short, since a client chose it."""
    return repr(header if len(header) <= 100 else header[:100] + "...")


async def _send_text(
    send: Send, status: int, text: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with `status` and a plain-text body."""
    await _send_body(send, status, text, b"text/plain; charset=utf-8", headers)


async def _send_body(
    send: Send,
    status: int,
    text: str,
    content_type: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with `status` and `text` as a body of `content_type`."""
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestBodyDeadline:
    """ASGI middleware: a request whose body has not wholly arrived `timeout_s` seconds after its
    headers gets 408, and its connection is closed.

    The deadline is for the whole body, not for the gap between two chunks, so a body dripped a
    byte at a time cannot hold a connection either. The app waiting for the body is cancelled: the
    SDK reads the whole body before it makes a session or answers, so nothing is left half-done.
    Nothing after the body (the answer, an event stream) has a deadline.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self._app = app
        self._timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        deadline = anyio.current_time() + self._timeout_s
        arrived_bytes = 0
        body_complete = timed_out = False

        with anyio.CancelScope() as request_scope:

            async def bounded_receive() -> Message:
                nonlocal arrived_bytes, body_complete, timed_out
                if body_complete:
                    return await receive()
                with anyio.CancelScope(deadline=deadline):
                    message = await receive()
                    arrived_bytes += len(message.get("body", b""))
                    body_complete = not message.get("more_body", False)
                    return message
                # Past the deadline: the request ends here, where the app waits for its body.
                timed_out = True
                request_scope.cancel()
                await checkpoint()
                return {"type": "http.disconnect"}  # not reached: the checkpoint raises

            await self._app(scope, bounded_receive, send)

        if timed_out:
            await self._refuse(scope, send, arrived_bytes)

    async def _refuse(self, scope: Scope, send: Send, arrived_bytes: int) -> None:
        from shoal.render import plural

        seconds = grouped_number(self._timeout_s)
        _log_refused(scope, f"its body was not complete {seconds} s after its headers "
                     f"({plural(arrived_bytes, 'byte')} of it had arrived); closing the "
                     "connection")
        # Closing the connection is what frees it: the rest of the body is never read.
        await _send_text(send, 408, f"request body not complete within {seconds} s\n",
                         [(b"connection", b"close")])


class RequestBodyCheck:
    """ASGI middleware: a POST's body is read whole here, before the SDK sees it.

    A body over `max_body_bytes` gets 413, whether its Content-Length says so (it is not read)
    or it passes the limit while it arrives, and the refusal is logged as the others are. A body
    the SDK could not read gets 400 with stdio's answer and the request's id when it has one:
    -32600 for JSON that is no JSON-RPC message (no ``"jsonrpc"``, an array, a number), where the
    SDK answers -32602 with the id null and pydantic's list of every member of the message union
    it tried; -32700 for text that is no JSON, naming an escaped lone surrogate where it is
    (the SDK says "unexpected end of hex escape" with the id null). A body that gives a key
    twice in one object gets 400 with stdio's refusal (see
    `shoal.stdio_transport.message_refusal`), whatever the message: the SDK would keep
    the last value. So does a request whose id is neither a string nor an integer, which the
    SDK would take for a notification and answer 202 with no body, the call never made. A
    UTF-8 byte order mark before the body is read past, as over stdio. A valid message is
    passed on as it came.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self._app = app
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != MCP_PATH:
            await self._app(scope, receive, send)
            return

        declared = _declared_length(scope["headers"])
        if declared is not None and declared > self._max_body_bytes:
            await self._refuse_too_large(
                scope, send, f"its Content-Length, {declared:,} bytes, is over the "
                f"{self._max_body_bytes:,}-byte limit; not read"
            )
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client hung up mid-body: the app meets the hang-up as it would have.
                await self._app(scope, _replay([_body_message(body, more=True), message],
                                               receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self._max_body_bytes:
                await self._refuse_too_large(
                    scope, send, f"its body passed the {self._max_body_bytes:,}-byte limit "
                    "while arriving"
                )
                return
            if not message.get("more_body", False):
                break

        body = body.removeprefix(codecs.BOM_UTF8)
        # Bytes that are not UTF-8 are kept as lone surrogates so that an error can name the
        # first.
        text = body.decode("utf-8", "surrogateescape")
        refusal = message_refusal(text)
        if refusal is not None:
            logger.info("answered a request body refused before reading: %s",
                        refusal.reply.error.message)
            await _send_json(send, 400, refusal.reply.model_dump_json(by_alias=True,
                                                                      exclude_unset=True))
            return
        reply = _unreadable_body_reply(text)
        if reply is not None:
            logger.info("answered a request body the SDK cannot read: %s", reply.error.message)
            await _send_json(send, 400, reply.model_dump_json(by_alias=True, exclude_unset=True))
            return
        await self._app(scope, _replay([_body_message(body, more=False)], receive), send)

    async def _refuse_too_large(self, scope: Scope, send: Send, reason: str) -> None:
        _log_refused(scope, reason)
        await _send_text(send, 413, "Request body too large")


def _declared_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a request declares, or None when it declares none it can be held to
    (no header, or one that is not a number: uvicorn refuses those before they reach here)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _body_message(body: bytearray, *, more: bool) -> Message:
    return {"type": "http.request", "body": bytes(body), "more_body": more}


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives ``messages`` first, then what ``receive`` gives."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _unreadable_body_reply(text: str) -> JSONRPCError | None:
    """The -32700 or -32600 answer to a body that is no JSON-RPC message, or None for one."""
    try:
        jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValidationError as error:
        return unreadable_message_reply(error, unit="body")
    return None


async def _send_json(send: Send, status: int, text: str) -> None:
    """Answer with `status` and a JSON body."""
    await _send_body(send, status, text, b"application/json")


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
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    session_idle_timeout_s: float = DEFAULT_SESSION_IDLE_TIMEOUT_S,
) -> ASGIApp:
    """The ASGI application serving `server` at ``/mcp``, both protocol eras.

    Args:
        server: The MCP server.
        allowed_hosts: Hosts besides the loopback names that clients may address (a proxy's),
            each ``NAME`` (any port) or ``NAME:PORT``.
        token: Bearer token every request must carry; None serves without authentication.
        stateless: Keep no session between requests (replicas behind a load balancer).
        body_timeout_s: Seconds after its headers by which a request's body must have arrived
            whole; a later one gets 408.
        session_idle_timeout_s: Seconds a session may have no request in flight before it is
            ended; its id then gets 404 and its client must initialize again. Unused stateless.

    Raises:
        ValueError: An allowed host is not of that form.
    """
    policy = HostPolicy(allowed_hosts)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        # HostOriginCheck does this, parsing the headers whole. The SDK's check matches a wildcard
        # port by prefix and names case-sensitively: it lets `localhost:1@evil.example` through
        # and refuses `LOCALHOST`.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=MAX_REQUEST_BODY_BYTES,
        session_idle_timeout=session_idle_timeout_s,
    )
    app = CancelOnDisconnect(app)
    app = RequestBodyDeadline(RequestBodyCheck(app, MAX_REQUEST_BODY_BYTES), body_timeout_s)
    app = HostOriginCheck(app, policy)
    if token is not None:
        app = BearerTokenMiddleware(app, token)
    return app


class ClientHangUpLog(logging.Filter):
    """A filter for the SDK's log: a POST whose client hung up before sending the whole body is
    logged as one INFO line of shoal's, not as an ERROR with a traceback.

    A client leaving mid-request is the client's doing, and a flaky proxy could otherwise bury
    the log under tracebacks. Every other record, errors with tracebacks included, passes as is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, ClientDisconnect):
            return True
        logger.info("a client hung up before sending the whole request; nothing was done")
        return False


_CLIENT_HANG_UP_LOG = ClientHangUpLog()


# uvicorn's exit status when it could not start listening (uvicorn.config.STARTUP_FAILURE).
STARTUP_FAILURE_STATUS = 3

# How long the application's shutdown may take after a forced stop (see _ShutDownWhenForced); the
# SDK's session manager takes milliseconds to cancel its sessions.
FORCED_SHUTDOWN_TIMEOUT_S = 2.0


class ForcedStopLog(logging.Filter):
    """A filter for uvicorn's log once a second Ctrl-C has forced the stop: a request still
    running, which the event loop cancels as it closes, is logged as one INFO line of shoal's,
    not as an ERROR with its traceback. Every other record passes as is."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, asyncio.CancelledError):
            return True
        logger.info("a request still running was cancelled by the forced stop")
        return False


_FORCED_STOP_LOG = ForcedStopLog()


class _ShutDownWhenForced(uvicorn.Server):
    """uvicorn's server, stopped quietly even when a second Ctrl-C forces the stop.

    On a second Ctrl-C uvicorn stops waiting for open connections (a client's event stream or a
    long call could hold it for good) and also skips the application's shutdown; the event loop
    then cancels the application's lifespan and the requests still running as it closes, and
    each cancellation is logged as an error with a traceback of 40 lines. Here the application
    is still shut down, within FORCED_SHUTDOWN_TIMEOUT_S, and a cancelled request is one line.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if not self.force_exit:
            return
        logging.getLogger("uvicorn.error").addFilter(_FORCED_STOP_LOG)
        try:
            await asyncio.wait_for(self.lifespan.shutdown(), FORCED_SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            logger.warning("the application did not shut down within %s s of a forced stop",
                           grouped_number(FORCED_SHUTDOWN_TIMEOUT_S))


def serve_http(
    server: MCPServer[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    allowed_hosts: Sequence[str] = (),
    token: str | None = None,
    stateless: bool = False,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    session_idle_timeout_s: float = DEFAULT_SESSION_IDLE_TIMEOUT_S,
) -> None:
    """Serve `server` over streamable HTTP with uvicorn until interrupted.

    Request headers have no deadline: uvicorn offers none (SECURITY.md states the limit).
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("binding %s: shoal's HTTP endpoint is reachable beyond this machine", host)
    # At DEBUG, sse-starlette logs every response chunk whole: the user's texts and whatever a
    # tool echoes. Even a verbose log keeps only what shoal itself chooses to say.
    logging.getLogger("sse_starlette").setLevel(logging.INFO)
    logging.getLogger("mcp.server.streamable_http").addFilter(_CLIENT_HANG_UP_LOG)
    app = http_app(server, allowed_hosts=allowed_hosts, token=token, stateless=stateless,
                   body_timeout_s=body_timeout_s, session_idle_timeout_s=session_idle_timeout_s)
    _run_uvicorn(app, host=host, port=port)


def _run_uvicorn(app: ASGIApp, *, host: str, port: int) -> None:
    """Serve `app` with uvicorn until a signal stops it, as `uvicorn.run` would, but with
    `_ShutDownWhenForced` as the server."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn_server = _ShutDownWhenForced(config)
    try:
        uvicorn_server.run()
    except KeyboardInterrupt:
        # uvicorn raises the Ctrl-C that stopped it again once it has shut down: the server
        # has stopped as asked, which is no error (status 0, as over stdio).
        pass
    if not uvicorn_server.started:
        # uvicorn has logged why (the address was taken between our check and its bind).
        sys.exit(STARTUP_FAILURE_STATUS)
