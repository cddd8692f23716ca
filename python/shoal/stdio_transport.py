"""Serving MCP over stdio with an answer for every line a host sends.

The SDK's stdio transport hands a line it cannot read to the session as an exception, which the
session logs at DEBUG and drops: a host that sent a request then waits for its own timeout. Some
such lines are ordinary JSON to a host: an escaped lone surrogate (``"\\ud800"``, which
JavaScript's ``JSON.stringify`` writes for a broken string), an integer of thousands of digits,
arrays nested a few hundred deep. Here each unreadable line is answered as the HTTP transport
answers the same body: ``-32700`` (parse error) when it is not JSON the SDK reads, ``-32600``
(invalid request) when it is JSON but not a JSON-RPC message, with the request's id whenever
the line still yields one (Python's own JSON reader is tried), so the host's call fails at once.
A lone surrogate is named where it is (``params.arguments.text has an unpaired surrogate at
index 2``) rather than with the SDK's reader's "unexpected end of hex escape". A request that
gives a key twice in one object is refused, as the HTTP transport refuses such a body (see
`message_refusal`): the SDK's reader keeps the last value without a word. So is a request whose
id MCP does not take (a fraction, ``true``, ``null``, an object), which the SDK's reader would
read as a notification and leave unanswered, and a message with neither a method nor an id
that is no response either: each gets ``-32600`` with the id null, over stdio as over HTTP, as
does a message with an id but no method that is no response (no result, no error), with its
id. The server keeps serving either way.

shoal reads the host's lines itself rather than through the SDK's reader, for three reasons:

* A line that is not UTF-8 is refused with ``-32700``, as over HTTP, where the SDK's reader would
  put U+FFFD in place of the bad bytes and serve the line as if the host had sent that.
* A blank line (white space only) is skipped: it carries no message, and some hosts write them.
* The server stops at once when the host closes its end of stdout (the next answer meets a broken
  pipe), logging one line and exiting with status 0 as when stdin closes; the SDK's reader waits
  in a thread that holds the process until stdin closes too.

When stdin closes, the SDK's server cancels the requests still running and answers each with
``Connection closed``: a script that pipes a batch of requests and closes its end loses the last
ones. Here the end of stdin is held back from the SDK until every request received has been
answered (see `InFlightRequests`), and the server then exits with status 0. The wait is bounded:
once ``closed_input_wait_s`` pass without an answer, the requests still running are answered
with an error and abandoned.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.dispatcher import as_request_id, coerce_request_id
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from typing_extensions import Self

from shoal.excerpts import EXCERPT_CHARACTERS, excerpt
from shoal.files import RepeatedKeyObject, first_repeat, object_keeping_repeated_keys
from shoal.privacy import secrets_hidden

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

logger = logging.getLogger(__name__)

# Python refuses to turn longer digit strings into int (sys.get_int_max_str_digits); such a
# number is read as a placeholder while the line is searched for its id.
_MAX_INT_DIGITS = 4300
_READ_BYTES = 1 << 16
_JSON_WHITE_SPACE = b" \t\r\n"


class _Unreadable:
    """An integer too long for Python to read, or a value nested too deep; never a valid id."""


class _LongInteger(_Unreadable):
    """An integer too long for Python to read, of ``digits`` digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


# How long, once stdin has closed, the server waits for the next answer to a request it received:
# each answer starts the wait again, so a long batch is served whole, while a request that never
# finishes holds the process this long after the last answer. As long as an HTTP request body
# may take to arrive by default (shoal.http_transport.DEFAULT_BODY_TIMEOUT_S).
CLOSED_INPUT_WAIT_S = 30.0

# How long the server may take to stop once it has abandoned requests. The SDK runs a tool that
# is a plain function on a worker thread, which no cancellation stops and which would hold the
# process until it returned; past this the process exits without it.
ABANDONED_STOP_S = 2.0


def serve_stdio(server: MCPServer, *, closed_input_wait_s: float = CLOSED_INPUT_WAIT_S) -> None:
    """Serve ``server`` over this process's stdin and stdout until the host closes either.

    Once stdin closes, the requests already received are finished and answered before the
    server stops, unless ``closed_input_wait_s`` seconds pass without an answer: those still
    running then are answered with an error and abandoned.
    """
    try:
        anyio.run(_serve, server, closed_input_wait_s)
    except KeyboardInterrupt:
        # Ctrl-C in the terminal that runs the server stops it as over HTTP, where uvicorn
        # takes the signal: quietly, with status 0.
        logger.debug("interrupted: stopping")
    except BaseExceptionGroup as group:
        # The SDK's writer meets the broken pipe inside its task group; anything else raised
        # with it is a fault of its own and keeps its traceback.
        broken_pipes, others = group.split(BrokenPipeError)
        if broken_pipes is None or others is not None:
            raise
        logger.info("the host closed the server's output: stopping")


async def _serve(server: MCPServer, closed_input_wait_s: float) -> None:
    # The SDK runs a server on given streams only through its low-level server.
    lowlevel = server._lowlevel_server
    send_line, receive_line = anyio.create_memory_object_stream[str | Refusal](0)
    with _claimed_stdin() as wire:
        threading.Thread(
            target=_read_host_lines,
            args=(wire, send_line, anyio.lowlevel.current_token()),
            name="shoal stdin reader",
            daemon=True,  # may wait on stdin forever; must not keep the process alive
        ).start()
        # The SDK only iterates its stdin, which a stream of lines does as well as a file.
        lines = CheckedLines(receive_line)
        stdin: Any = lines
        async with receive_line, stdio_server(stdin=stdin) as (read_stream, write_stream):
            lines.answer_through(write_stream)
            in_flight = InFlightRequests(write_stream, closed_input_wait_s)
            answering = AnsweringReadStream(read_stream, write_stream, in_flight)
            await lowlevel.run(answering, AnswerCountingWriteStream(write_stream, in_flight),
                               lowlevel.create_initialization_options())


@contextmanager
def _claimed_stdin() -> Iterator[int]:
    """A private duplicate of fd 0 to read the host's bytes from.

    Meanwhile fd 0 reads the null device, so that nothing else in the process (a library, a
    child process) can take bytes meant for the server; it is restored on exit. The duplicate
    stays open: the reading thread may still wait on it, and a closed descriptor's number could
    be reused under it.
    """
    wire = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    try:
        yield wire
    finally:
        os.dup2(wire, 0)


def _read_host_lines(
    wire: int, send_line: MemoryObjectSendStream[str | Refusal],
    token: anyio.lowlevel.EventLoopToken,
) -> None:
    """On a thread of its own: pass each line the host writes to ``send_line``, or its refusal
    when it gives a key twice, and close it at the end of the input; stop early when the server
    stops taking lines."""
    try:
        for line in _host_lines(wire):
            checked: str | Refusal = message_refusal(line) or line
            anyio.from_thread.run(send_line.send, checked, token=token)
        anyio.from_thread.run_sync(send_line.close, token=token)
    except (anyio.BrokenResourceError, RuntimeError, concurrent.futures.CancelledError):
        # The server has stopped: the stream is closed, the event loop has finished (anyio's
        # RunFinishedError is a RuntimeError) or is cancelling what is left in it.
        return


_UTF8_BOM = b"\xef\xbb\xbf"


def _host_lines(wire: int) -> Iterator[str]:
    """The lines read from file descriptor ``wire``, without their newlines or blank ones.

    Bytes that are not UTF-8 are kept as lone surrogates, which the SDK's JSON reader refuses, so
    that `error_reply` answers the line. A read that fails ends the input, as end of file does.
    """
    pending = bytearray()
    try:
        while chunk := os.read(wire, _READ_BYTES):
            pending += chunk
            if b"\n" in chunk:
                *lines, rest = pending.split(b"\n")
                yield from (_decoded(line) for line in lines if line.strip(_JSON_WHITE_SPACE))
                pending = bytearray(rest)
    except OSError as error:
        logger.warning("cannot read stdin: %s", error.strerror or error)
        return
    if pending.strip(_JSON_WHITE_SPACE):
        yield _decoded(pending)


def _decoded(line: bytes | bytearray) -> str:
    """A host's line as text, past a UTF-8 byte order mark that some Windows hosts write first."""
    return bytes(line).removeprefix(_UTF8_BOM).decode("utf-8", "surrogateescape")


class CheckedLines:
    """The host's lines as the SDK's reader takes them, less the refused ones, which are
    answered here: a request is sent its refusal, a notification or a response (which JSON-RPC
    never answers) is dropped, and either is logged."""

    def __init__(self, lines: MemoryObjectReceiveStream[str | Refusal]) -> None:
        self._lines = lines
        self._write_stream: Any = None
        self._ready = anyio.Event()

    def answer_through(self, write_stream: Any) -> None:
        """Send refusals to ``write_stream``, the SDK's, once it exists."""
        self._write_stream = write_stream
        self._ready.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        async for item in self._lines:
            if isinstance(item, str):
                return item
            await self._answer(item)
        raise StopAsyncIteration

    async def _answer(self, refusal: Refusal) -> None:
        if not refusal.is_request:
            logger.info("dropped a notification or response refused before reading: %s",
                        refusal.reply.error.message)
            return
        logger.info("answered a request refused before reading: %s", refusal.reply.error.message)
        # The SDK's reader may pass the first line before its write stream is handed out.
        await self._ready.wait()
        await self._write_stream.send(SessionMessage(refusal.reply))


class _WrappedStream:
    """A stream around the SDK's ``_inner`` one, closed with it and usable as ``async with``."""

    _inner: Any

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AnsweringReadStream(_WrappedStream):
    """A read stream that answers unreadable lines itself and passes every message on, noting
    each to ``in_flight``; its end comes once ``in_flight`` has settled the requests received."""

    def __init__(self, inner: Any, write_stream: Any, in_flight: InFlightRequests) -> None:
        self._inner = inner
        self._write_stream = write_stream
        self._in_flight = in_flight

    @property
    def last_context(self) -> Any:
        """The sender's context of the last message, as the SDK's own stream keeps it."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            try:
                item = await self._inner.receive()
            except anyio.EndOfStream:
                # The SDK cancels every request still running when its input ends.
                await self._in_flight.settle()
                raise
            if not isinstance(item, Exception):
                self._in_flight.note_received(item)
                return item
            reply = error_reply(item)
            if reply is None:
                return item
            logger.info("answered an unreadable line: %s", reply.error.message)
            await self._write_stream.send(SessionMessage(reply))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


class InFlightRequests:
    """The requests the SDK's server has received and not yet answered, by id.

    A request is in flight from the time it is read until its answer is handed to the writer of
    stdout; one the host cancels (``notifications/cancelled``) gets no answer and leaves too.
    """

    def __init__(self, write_stream: Any, closed_input_wait_s: float) -> None:
        self._write_stream = write_stream
        self._wait_s = closed_input_wait_s
        # Keyed as the SDK correlates ids ("7" and 7 are one); the ids as the host wrote them.
        self._running: defaultdict[Any, deque[types.RequestId]] = defaultdict(deque)
        self._abandoned: set[Any] = set()
        # Whether the host cancelled a request still running: its tool may go on running on a
        # worker thread after the server is done, and the SDK would wait for it.
        self._cancelled_while_running = False
        self._answered = anyio.Event()

    def note_received(self, item: SessionMessage) -> None:
        message = item.message
        if isinstance(message, types.JSONRPCRequest):
            self._running[coerce_request_id(message.id)].append(message.id)
        elif (isinstance(message, types.JSONRPCNotification)
              and message.method == "notifications/cancelled"):
            request_id = as_request_id((message.params or {}).get("requestId"))
            if request_id is not None and coerce_request_id(request_id) in self._running:
                self._cancelled_while_running = True
                self._leave(coerce_request_id(request_id))

    def note_answered(self, item: SessionMessage) -> None:
        message = item.message
        if isinstance(message, types.JSONRPCResponse | types.JSONRPCError) and (
            message.id is not None
        ):
            self._leave(coerce_request_id(message.id))
            self._answered.set()
            self._answered = anyio.Event()

    def is_abandoned(self, item: SessionMessage) -> bool:
        """Whether ``item`` answers a request already answered as abandoned."""
        message = item.message
        return (isinstance(message, types.JSONRPCResponse | types.JSONRPCError)
                and message.id is not None and coerce_request_id(message.id) in self._abandoned)

    def _leave(self, key: Any) -> None:
        ids = self._running.get(key)
        if ids:
            ids.popleft()
        if not ids:
            self._running.pop(key, None)

    async def settle(self) -> None:
        """Wait until every request in flight is answered, or abandon those still running once
        the wait for the next answer has lasted ``closed_input_wait_s`` seconds."""
        if self._running:
            logger.debug("stdin closed: finishing %d request(s) still running", self._count())
        while self._running:
            with anyio.move_on_after(self._wait_s) as waiting:
                await self._answered.wait()
            if waiting.cancelled_caught:
                await self._abandon()
                return
        if self._cancelled_while_running:
            _arm_stop_guard()

    def _count(self) -> int:
        return sum(len(ids) for ids in self._running.values())

    async def _abandon(self) -> None:
        seconds = f"{self._wait_s:g}"
        logger.warning("stdin closed and no request was answered for %s s: stopping without "
                       "the %d still running", seconds, self._count())
        # Armed first: an answer below may wait on a host that no longer reads.
        _arm_stop_guard()
        running, self._running = self._running, defaultdict(deque)
        self._abandoned.update(running)
        error = types.ErrorData(code=types.CONNECTION_CLOSED, message=(
            f"Connection closed: stdin was closed, and the request was still running when the "
            f"server had answered nothing for {seconds} s"))
        for ids in running.values():
            for request_id in ids:
                await self._write_stream.send(SessionMessage(
                    types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)))


def _arm_stop_guard() -> None:
    """End the process if it is still there ``ABANDONED_STOP_S`` from now."""
    threading.Thread(target=_exit_if_held, args=(ABANDONED_STOP_S,), name="shoal stop guard",
                     daemon=True).start()


def _exit_if_held(seconds: float) -> None:
    """On a thread of its own: end the process, with status 0, if it is still there after
    ``seconds`` (a tool on a worker thread holds it)."""
    time.sleep(seconds)
    logger.warning("a request still running holds the server %s s after it stopped: exiting "
                   "without it", f"{seconds:g}")
    os._exit(0)


class AnswerCountingWriteStream(_WrappedStream):
    """The SDK's write stream, telling ``in_flight`` of each answer once it is handed on, and
    dropping the SDK's own answer to a request already answered as abandoned."""

    def __init__(self, inner: Any, in_flight: InFlightRequests) -> None:
        self._inner = inner
        self._in_flight = in_flight

    async def send(self, item: SessionMessage) -> None:
        if self._in_flight.is_abandoned(item):
            return
        await self._inner.send(item)
        self._in_flight.note_answered(item)


def error_reply(error: Exception) -> types.JSONRPCError | None:
    """The JSON-RPC error answering the line behind ``error``, or None for a line that needs no
    answer (a notification or a response, which JSON-RPC never answers) or another failure."""
    if not isinstance(error, ValidationError) or not error.errors():
        return None
    message = _message_in(error)
    if message is not None and ("method" not in message or "id" not in message):
        return None
    return unreadable_message_reply(error)


def unreadable_message_reply(error: ValidationError, unit: str = "line") -> types.JSONRPCError:
    """The JSON-RPC error answering the message ``error`` refuses, whatever its shape: over HTTP
    a body that is a notification or a response is answered too, since every request gets a
    status. ``unit`` is what carried the message (a line; over HTTP a body), for the error
    about bytes that are not UTF-8."""
    details = error.errors()
    first = details[0]
    message = _message_in(error)
    request_id = _request_id(message)
    surrogate = _lone_surrogate(message) if message is not None else None
    if first["type"] == "string_unicode" and isinstance(first.get("input"), str):
        code, text = types.PARSE_ERROR, f"Parse error: {_utf8_error(first['input'], unit)}"
    elif first["type"] == "json_invalid" and surrogate is not None:
        # The SDK's reader says "unexpected end of hex escape", which points nowhere useful.
        code, text = types.PARSE_ERROR, f"Parse error: {surrogate}"
    elif first["type"] == "json_invalid":
        code, text = types.PARSE_ERROR, f"Parse error: {first['msg']}"
    else:
        location = ".".join(str(part) for part in first.get("loc", ()))
        code, text = types.INVALID_REQUEST, f"Invalid request: {location}: {first['msg']}"
    return _with_secrets_hidden(types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=text)
    ))


@dataclass(frozen=True)
class Refusal:
    """The answer to a message refused before the SDK reads it, and whether JSON-RPC lets it be
    sent (only a request is answered)."""

    reply: types.JSONRPCError
    is_request: bool


_GIVE_EACH_ONCE = "once (only the last would be read)"


def message_refusal(text: str) -> Refusal | None:
    """`_refusal_before_reading`, its message with secrets and personal data replaced by
    ``[kind]`` (see `_with_secrets_hidden`)."""
    refusal = _refusal_before_reading(text)
    if refusal is None:
        return None
    return dataclasses.replace(refusal, reply=_with_secrets_hidden(refusal.reply))


def _with_secrets_hidden(reply: types.JSONRPCError) -> types.JSONRPCError:
    """``reply`` with secrets and personal data in its message replaced by ``[kind]``: the
    message quotes what the sender wrote (an id, a key, a method) and is logged as well as
    answered. Every refusal and every answer to an unreadable message passes through here."""
    message = secrets_hidden(reply.error.message)
    if message == reply.error.message:
        return reply
    error = reply.error.model_copy(update={"message": message})
    return reply.model_copy(update={"error": error})


def _refusal_before_reading(text: str) -> Refusal | None:
    """The refusal of a JSON-RPC message that gives a key twice in one of its objects, that is
    no message MCP reads (see `_shape_refusal`), or whose params hold a number too long to
    read, or None.

    A number of more than 4,300 digits is valid JSON that neither Python nor the SDK's reader
    turns into a number: the SDK answered ``Parse error: number out of range``, as if the text
    were not JSON. It is refused as invalid params naming where it is (``argument
    'context_tokens' is a number of 5,000 digits``), as an argument of ``1e400`` is refused by
    the tool it names.

    A JSON reader keeps the last of two values, so ``{"context_tokens":4096,
    "context_tokens":1}`` would be served at 1 token without a word, as shoal's data files
    would be read if they did not refuse such objects. A repeat in a call's arguments is
    refused as invalid params naming the argument (``argument 'context_tokens' is given more
    than once``, or ``argument 'messages.0' gives 'role' more than once``), one elsewhere in
    the params likewise naming where it is (``params gives 'name' more than once``), and one
    in the message's own members (two ids, two methods) as an invalid request: which of the
    two was meant is not known, so a repeated id is answered with the id null. Text that
    Python's JSON reader cannot read, or that holds no repeat, is left to the SDK's reader.
    """
    repeats: list[RepeatedKeyObject] = []

    def noting_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        read = object_keeping_repeated_keys(pairs)
        if isinstance(read, RepeatedKeyObject):
            repeats.append(read)
        return read

    try:
        message = json.loads(text, object_pairs_hook=noting_repeats, parse_int=_integer)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict):
        return None
    if not repeats:
        return _shape_refusal(message) or _long_number_refusal(message)

    place, repeated = _first_repeat(message)
    request_id = None if place == () and repeated.repeated == "id" else _request_id(message)
    reply = types.JSONRPCError(jsonrpc="2.0", id=request_id,
                               error=_repeat_error(place, repeated.repeated))
    return Refusal(reply, is_request="method" in message and "id" in message)


def _shape_refusal(message: dict[str, Any]) -> Refusal | None:
    """The refusal of a request whose id is neither a string nor an integer, or of a message
    with no method that is no response either (no result, no error); None for any other.

    The SDK's reader takes a method with an id of another type for a notification, which is
    never answered, and drops a message with no method as it drops a response: either way the
    sender waits for an answer that never comes. Both are refused as invalid requests, the
    first with the id null, as JSON-RPC answers a request whose id cannot be told. A message
    with an id but no method, result or error is no response (a response carries one of the
    two), so it is answered over stdio as over HTTP, with its id when that is one JSON-RPC
    takes.
    """
    if "method" in message and "id" in message:
        request_id = message["id"]
        # An integer too long to read is left to the SDK's reader, which answers a parse error.
        if isinstance(request_id, bool) or not isinstance(request_id, str | int | _Unreadable):
            return _invalid_request(
                None, f"the id must be a string or an integer, got {excerpt(request_id)}")
    elif not any(member in message for member in ("method", "result", "error")):
        return _invalid_request(
            _request_id(message), "the message has no method, nor the result or error of a "
            "response; a request gives a method and an id (a string or an integer)")
    return None


def _invalid_request(request_id: types.RequestId | None, problem: str) -> Refusal:
    """The refusal of a request as invalid, answered with ``request_id``."""
    error = types.ErrorData(code=types.INVALID_REQUEST, message=f"Invalid request: {problem}")
    return Refusal(types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error),
                   is_request=True)


def _long_number_refusal(message: dict[str, Any]) -> Refusal | None:
    """The refusal of a message whose params hold a number too long to read, or None (a long
    id is answered with the id null by the SDK's reader's parse error)."""
    found = _first_long_number(message.get("params"), ("params",))
    if found is None:
        return None
    place, digits = found
    if place[:2] == ("params", "arguments") and len(place) > 2:
        where = f"argument {_argument(place[2:])}"
    else:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{_shown_part(part)}"
                        for part in place).lstrip(".")
    error = types.ErrorData(code=types.INVALID_PARAMS, message=(
        f"Invalid params: {where} is a number of {digits:,} digits; a number of more than "
        f"{_MAX_INT_DIGITS:,} digits cannot be read"))
    reply = types.JSONRPCError(jsonrpc="2.0", id=_request_id(message), error=error)
    return Refusal(reply, is_request="method" in message and "id" in message)


def _first_long_number(
    value: Any, place: tuple[Any, ...],
) -> tuple[tuple[Any, ...], int] | None:
    """Where the first number too long to read is in ``value``, in the order written, and its
    digits; None when there is none."""
    if isinstance(value, _LongInteger):
        return place, value.digits
    members: Any = ()
    if isinstance(value, dict):
        members = value.items()
    elif isinstance(value, list):
        members = enumerate(value)
    for key, item in members:
        found = _first_long_number(item, (*place, key))
        if found is not None:
            return found
    return None


def _first_repeat(message: dict[str, Any]) -> tuple[tuple[Any, ...], RepeatedKeyObject]:
    """Where the first object that gives a key twice is, in the order written, and the object."""
    found = first_repeat(message)
    if found is None:
        raise AssertionError("a repeat was noted while reading")
    return found


def _repeat_error(place: tuple[Any, ...], key: str) -> types.ErrorData:
    """The error for ``key`` given twice in the object at ``place``, which names the argument
    when the object is a call's arguments or lies inside them."""
    if place[:2] == ("params", "arguments"):
        if len(place) == 2:
            return types.ErrorData(code=types.INVALID_PARAMS, message=(
                f"Invalid params: argument {excerpt(key)} is given more than once; give each "
                f"argument {_GIVE_EACH_ONCE}"))
        return types.ErrorData(code=types.INVALID_PARAMS, message=(
            f"Invalid params: argument {_argument(place[2:])} gives {excerpt(key)} more than "
            f"once; give each key {_GIVE_EACH_ONCE}"))
    if place:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{_shown_part(part)}"
                        for part in place).lstrip(".")
        return types.ErrorData(code=types.INVALID_PARAMS, message=(
            f"Invalid params: {where} gives {excerpt(key)} more than once; give each key "
            f"{_GIVE_EACH_ONCE}"))
    return types.ErrorData(code=types.INVALID_REQUEST, message=(
        f"Invalid request: the message gives {excerpt(key)} more than once; give each member "
        f"{_GIVE_EACH_ONCE}"))


def _argument(parts: tuple[Any, ...]) -> str:
    """An argument's path (``'messages.0'``), quoted once and cut as every quoted value is."""
    return excerpt(".".join(str(part) for part in parts))


def _shown_part(part: Any) -> str:
    # A key on the path is the caller's text, of any length and with any characters.
    text = str(part)
    return text if len(text) <= EXCERPT_CHARACTERS and text.isprintable() else excerpt(text)


def _message_in(error: ValidationError) -> Mapping[str, Any] | None:
    """The refused message as a JSON object, or None when it is none. Unreadable JSON carries
    the whole line; a message of the wrong shape carries itself in some of the errors (a
    missing field's), the offending field's value in others."""
    return next(
        (found for detail in error.errors()
         if (found := _readable(detail.get("input"))) is not None),
        None,
    )


def _lone_surrogate(value: Any, where: str = "") -> str | None:
    """Where the first escaped lone surrogate (``"\\ud800"``) in a message read by Python's
    JSON reader is, as the error names it; None when there is none. JSON text may escape one,
    but no UTF-8 can carry it, so the SDK's reader refuses the whole line."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            return (f"{where or 'the message'} has an unpaired surrogate at index {error.start} "
                    "(an escape such as \\ud800 without its pair), which no UTF-8 text holds; "
                    "send valid Unicode")
        return None
    if isinstance(value, Mapping):
        for key, member in value.items():
            inside = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and not _encodable(key):
                return (f"a member name in {where or 'the message'} has an unpaired surrogate, "
                        "which no UTF-8 text holds; send valid Unicode")
            found = _lone_surrogate(member, inside)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def _utf8_error(line: str, unit: str) -> str:
    """Where a line read with its bytes that are not UTF-8 kept as lone surrogates goes wrong."""
    raw = line.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the {unit} is not UTF-8: byte {error.start + 1} is {raw[error.start]:#04x}"
    return f"the {unit} is not UTF-8"


def _readable(line: Any) -> Mapping[str, Any] | None:
    """The line as a JSON object, read by Python's JSON reader, or None when it is none."""
    if isinstance(line, Mapping):
        return line
    if not isinstance(line, str | bytes):
        return None
    try:
        value = json.loads(line, parse_int=_integer)
    except RecursionError:
        # Nested past what Python's reader takes (about a thousand levels): the id and method
        # are top-level members, so read those and skip the deep ones.
        return _shallow_members(line if isinstance(line, str) else line.decode(errors="replace"))
    except ValueError:
        return None
    return value if isinstance(value, Mapping) else None


def _shallow_members(line: str) -> dict[str, Any] | None:
    """The top-level members of a JSON object whose values Python's reader takes; a member
    nested too deep is skipped. None when the line is not a well-formed object."""
    members: dict[str, Any] = {}
    position = _after_space(line, 0)
    if not line.startswith("{", position):
        return None
    position = _after_space(line, position + 1)
    try:
        while not line.startswith("}", position):
            key, position = _DECODER.raw_decode(line, position)
            position = _after_space(line, position)
            if not isinstance(key, str) or not line.startswith(":", position):
                return None
            position = _after_space(line, position + 1)
            try:
                members[key], position = _DECODER.raw_decode(line, position)
            except RecursionError:
                # Kept as present: a request whose id is too deep is still a request, answered
                # with a null id, not a notification left unanswered.
                members[key] = _Unreadable()
                position = _past_value(line, position)
            position = _after_space(line, position)
            if line.startswith(",", position):
                position = _after_space(line, position + 1)
            elif not line.startswith("}", position):
                return None
    except ValueError:
        return None
    return members


def _after_space(line: str, position: int) -> int:
    while position < len(line) and line[position] in _SPACE:
        position += 1
    return position


def _past_value(line: str, position: int) -> int:
    """The position after the array or object starting at ``position``: brackets are counted
    outside strings, so only the brackets' balance is checked, not what lies between."""
    depth, in_string, escaped = 0, False, False
    for index in range(position, len(line)):
        character = line[index]
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
        elif character in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
    raise ValueError("unbalanced brackets")


def _integer(digits: str) -> int | _Unreadable:
    count = len(digits.lstrip("-"))
    return int(digits) if count <= _MAX_INT_DIGITS else _LongInteger(count)


_DECODER = json.JSONDecoder(parse_int=_integer)
_SPACE = " \t\n\r"


def _request_id(message: Mapping[str, Any] | None) -> int | str | None:
    """The id to answer with: the request's own when it is a valid JSON-RPC id, else null."""
    if message is None:
        return None
    request_id = message.get("id")
    if isinstance(request_id, str):
        # Python's reader takes an escaped lone surrogate that no UTF-8 answer could carry.
        return request_id if _encodable(request_id) else None
    valid = isinstance(request_id, int) and not isinstance(request_id, bool)
    return request_id if valid else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
