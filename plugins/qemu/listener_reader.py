"""The listener connection's reader: each D-Bus message received whole into one buffer, frames decoded in place.

dbus-fast's reader appends whatever each ``recvmsg`` returns to a growing buffer and
copies an ``ay`` argument out to ``bytes``: an inline 3 MB frame was copied about
four times (benchmarks/analysis.md).  This reader takes the message length from the
16-byte fixed header, makes room for the whole message in one buffer and receives
the rest of it straight into place: one kernel copy.

*Frame calls* (QEMU's one-way ``Scanout``, ``Update`` and ``UpdateMap``: no fds, a
body of 32-bit integers that may end in a byte array) are decoded in place, the
integers with one ``struct`` unpack and the bytes as a memoryview into the buffer
that is valid only during the call, and handed to their handler directly: no
``Message``, no signature parsing.  A header is parsed once and remembered by its
bytes (QEMU repeats the same header fields for every frame).  Everything else
(properties, ``ScanoutMap`` with its memfd, the cursor) becomes a dbus-fast
``Message`` for the bus's usual handlers, with the fds it announced.

Bytes that are not a D-Bus message stream (a wrong protocol version or endianness,
lengths past D-Bus limits, header fields that do not parse, announced fds that never
came) cannot be skipped over: the reader stops and ends the connection with one line
saying what was wrong, through the bus's ``finalize`` as dbus-fast's reader does.
"""

from __future__ import annotations

import array
import io
import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from dbus_fast import Message
from dbus_fast._private.unmarshaller import Unmarshaller

log = logging.getLogger(__name__)

FIXED_HEADER = 16
MAX_MESSAGE = 128 * 1024 * 1024  # the D-Bus specification's limit on a whole message
MAX_ARRAY = 64 * 1024 * 1024  # ... and on one array (the header fields are one)
MAX_FDS_PER_READ = 16  # QEMU passes one fd per message
MAX_QUEUED_FDS = 64  # fds received that no complete message claimed yet
HEADER_CACHE = 64  # distinct header-field byte strings remembered

# A read that does not know the message length yet has at least this much room.
READ_AHEAD = 64 * 1024

METHOD_CALL = 1
NO_REPLY_EXPECTED = 0x1
LITTLE, BIG = ord("l"), ord("B")
_FIXED_LE = struct.Struct("<III")  # body length, serial, header fields length
_FIXED_BE = struct.Struct(">III")
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct(">I")
_FD_SPACE = socket.CMSG_SPACE(MAX_FDS_PER_READ * array.array("i").itemsize)
# Plain ints: the socket module's are enum members, and their ``&`` costs microseconds.
_CLOEXEC, _CTRUNC = int(socket.MSG_CMSG_CLOEXEC), int(socket.MSG_CTRUNC)
_SOL_SOCKET, _SCM_RIGHTS = int(socket.SOL_SOCKET), int(socket.SCM_RIGHTS)

# Header field codes and the type each must have (D-Bus specification, "Header Fields").
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE, UNIX_FDS = range(1, 10)
_FIELD_TYPES = {PATH: b"o", INTERFACE: b"s", MEMBER: b"s", ERROR_NAME: b"s", REPLY_SERIAL: b"u",
                DESTINATION: b"s", SENDER: b"s", SIGNATURE: b"g", UNIX_FDS: b"u"}

#: (path, interface, member, signature) of a frame call.
FrameKey = tuple[str, str, str, str]


class ProtocolError(Exception):
    """Bytes on the connection that are not a D-Bus message stream."""


class InPlace:
    """Decodes a little-endian body of 32-bit integers (``i``, ``u``) that may end in ``ay``."""

    def __init__(self, signature: str) -> None:
        ints = signature[:-2] if signature.endswith("ay") else signature
        if not ints or any(code not in "iu" for code in ints):
            raise ValueError(f"signature {signature!r} is not 32-bit integers and an optional ay")
        self.has_bytes = ints != signature
        codes = "".join("i" if code == "i" else "I" for code in ints)
        self._struct = struct.Struct("<" + codes + ("I" if self.has_bytes else ""))

    def decode(self, view: memoryview, offset: int, length: int) -> tuple[Any, ...] | None:
        """The arguments of the body at ``view[offset:offset + length]``, or None when it is not one."""
        size = self._struct.size
        if length < size:
            return None
        values = self._struct.unpack_from(view, offset)
        if not self.has_bytes:
            return values if length == size else None
        count = values[-1]  # the array's length follows the integers, 4-aligned already
        if size + count != length:
            return None
        return (*values[:-1], view[offset + size:offset + length])


class _Header(NamedTuple):
    unix_fds: int
    frame: tuple[InPlace, Callable[..., None]] | None  # decoder and handler of a frame call


def parse_fields(data: bytes, big: bool) -> dict[int, str | int]:
    """The header fields (``a(yv)``, starting 8-aligned) of a message; ProtocolError if they do not parse.

    Only the types the specification gives its fields (strings, object paths,
    signatures, uint32) are read; a field of another type ends the connection.
    """
    u32 = (_U32_BE if big else _U32_LE).unpack_from
    fields: dict[int, str | int] = {}
    pos, end = 0, len(data)
    while pos < end:
        pos += -pos & 7
        if pos + 3 > end:
            raise ProtocolError("header fields end inside a field")
        code, sig_len = data[pos], data[pos + 1]
        kind = data[pos + 2:pos + 2 + sig_len]
        pos += 3 + sig_len
        if pos > end or data[pos - 1] != 0:
            raise ProtocolError(f"header field {code}: signature runs past the header")
        value: str | int
        if kind in (b"s", b"o"):
            pos += -pos & 3
            if pos + 4 > end:
                raise ProtocolError(f"header field {code}: string length past the header")
            length = u32(data, pos)[0]
            pos += 4
            if pos + length >= end or data[pos + length] != 0:
                raise ProtocolError(f"header field {code}: string runs past the header")
            value = _text(data[pos:pos + length], code)
            pos += length + 1
        elif kind == b"g":
            length = data[pos] if pos < end else end
            if pos + length + 1 >= end or data[pos + 1 + length] != 0:
                raise ProtocolError(f"header field {code}: signature value runs past the header")
            value = _text(data[pos + 1:pos + 1 + length], code)
            pos += length + 2
        elif kind == b"u":
            pos += -pos & 3
            if pos + 4 > end:
                raise ProtocolError(f"header field {code}: uint32 past the header")
            value = u32(data, pos)[0]
            pos += 4
        else:
            raise ProtocolError(f"header field {code} of type {kind.decode('latin-1')!r}")
        expected = _FIELD_TYPES.get(code)
        if expected is not None:  # unknown codes are ignored, as the specification says
            if kind != expected:
                raise ProtocolError(f"header field {code} of type {kind.decode('latin-1')!r}, "
                                    f"not {expected.decode()!r}")
            fields[code] = value
    return fields


def _buffer(size: int) -> memoryview:
    """A new receive buffer of ``size`` bytes.

    numpy's, not a bytearray: its pages are left untouched until a message is received
    into them (a bytearray zeroes them all first), and a new buffer rather than a
    resize, as views handed out may still exist.
    """
    return memoryview(np.empty(size, np.uint8).data).cast("B")


def _text(raw: bytes, code: int) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtocolError(f"header field {code} is not UTF-8") from None


class ListenerReader:
    """The event loop's reader callback for one connection (``loop.add_reader(fd, reader)``).

    ``process(message)`` gets every message that is not a frame call (dbus-fast's
    ``_process_message``); ``finalize(exc)`` is called once when the connection ends
    (EOFError on end of file, ProtocolError for bytes that are not D-Bus, OSError);
    ``frame_calls`` maps a frame call's (path, interface, member, signature) to its
    handler, called with the decoded arguments.  ``sock`` is non-blocking.
    """

    def __init__(self, sock: socket.socket, process: Callable[[Message], None],
                 finalize: Callable[[Exception | None], None],
                 frame_calls: dict[FrameKey, Callable[..., None]]) -> None:
        self._recv = sock.recvmsg_into
        self._process = process
        self._finalize = finalize
        self._frames = {key: (InPlace(key[3]), handler) for key, handler in frame_calls.items()}
        self._view = _buffer(READ_AHEAD)
        self._start = 0  # the first unhandled byte
        self._end = 0  # the end of what was received
        self._need = 0  # length of the message at _start once its fixed header is in, else 0
        self._fixed = (False, 0, 0, 0, 0)  # (big-endian, type, flags, fields length, body length) of it
        self._fds: list[int] = []  # received, not yet claimed by a message, in order
        self._headers: dict[tuple[bool, bytes], _Header] = {}
        self._done = False

    def __call__(self) -> None:
        if self._done:
            return
        try:
            self._pump()
        except Exception as exc:  # EOFError, ProtocolError, OSError: the connection is over
            self._stop(exc)

    def _stop(self, exc: Exception) -> None:
        self._done = True
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
        self._finalize(exc)

    # ----------------------------------------------------------------- reading

    def _pump(self) -> None:
        """Receive and handle messages until a read comes back short: the socket was empty then.

        No read to see EAGAIN (a syscall and an exception per wake-up): the loop's
        selector is level-triggered and calls again when more has come.  Nor does it
        wait for the rest of a message here: a wake-up from poll() cost as much CPU as
        one through the event loop (benchmarks/analysis.md).
        """
        while True:
            full = self._receive()
            self._handle_complete()
            if not full:
                return

    def _receive(self) -> bool:
        """One ``recvmsg_into``: exactly the rest of a long message, else as much as fits.

        True when it filled all the room it was given (more may be waiting).
        """
        have = self._end - self._start
        need = self._need
        if need:
            if self._start + need > len(self._view):
                self._make_room(need)
        elif len(self._view) - self._end < READ_AHEAD:
            self._make_room(have + READ_AHEAD)
        # The rest of a long message and not a byte more: the next message then starts
        # at a fresh position and never has to be moved.
        stop = self._start + need if need - have > READ_AHEAD else len(self._view)
        try:
            nbytes, ancdata, flags, _ = self._recv([self._view[self._end:stop]], _FD_SPACE, _CLOEXEC)
        except BlockingIOError:  # woken with nothing to read
            return False
        if ancdata or flags & _CTRUNC:
            self._take_fds(ancdata, flags)
        if not nbytes:
            raise EOFError  # reported as "EOFError", as dbus-fast's reader does
        self._end += nbytes
        return self._end == stop

    def _make_room(self, size: int) -> None:
        """Move the unhandled bytes to the buffer's start, in a larger buffer if ``size`` does not fit."""
        have = self._end - self._start
        if size > len(self._view):
            view = _buffer(size + (-size & 0xFFFF))
            view[:have] = self._view[self._start:self._end]
            self._view = view
        elif self._start:
            self._view[:have] = self._view[self._start:self._end]
        self._start, self._end = 0, have

    def _take_fds(self, ancdata: list[tuple[int, int, bytes]], flags: int) -> None:
        for level, kind, data in ancdata:
            if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                self._fds.extend(fds)
        if flags & _CTRUNC:
            raise ProtocolError(f"more than {MAX_FDS_PER_READ} fds in one read")
        if len(self._fds) > MAX_QUEUED_FDS:
            raise ProtocolError(f"{len(self._fds)} fds received that no message claims")

    # ---------------------------------------------------------------- messages

    def _handle_complete(self) -> None:
        """Handle every complete message in the buffer."""
        while True:
            have = self._end - self._start
            if not self._need:
                if have < FIXED_HEADER:
                    break
                self._need = self._message_length()
            if have < self._need:
                break
            start, size, fixed = self._start, self._need, self._fixed
            self._start += size
            self._need = 0
            self._handle(start, size, *fixed)
        if self._start == self._end:
            self._start = self._end = 0

    def _message_length(self) -> int:
        """The whole length of the message at ``_start`` from its fixed header, which is checked."""
        buf, at = self._view, self._start
        endian, kind, flags, version = buf[at], buf[at + 1], buf[at + 2], buf[at + 3]
        if endian == LITTLE:
            body_len, _serial, fields_len = _FIXED_LE.unpack_from(buf, at + 4)
        elif endian == BIG:
            body_len, _serial, fields_len = _FIXED_BE.unpack_from(buf, at + 4)
        else:
            raise ProtocolError(f"not a D-Bus message (endianness byte {endian:#04x})")
        if version != 1:
            raise ProtocolError(f"D-Bus protocol version {version} (1 expected)")
        if not 1 <= kind <= 4:
            raise ProtocolError(f"D-Bus message of unknown type {kind}")
        if fields_len > MAX_ARRAY:
            raise ProtocolError(f"{fields_len} bytes of header fields (D-Bus allows {MAX_ARRAY})")
        total = FIXED_HEADER + fields_len + (-fields_len & 7) + body_len
        if total > MAX_MESSAGE:
            raise ProtocolError(f"a D-Bus message of {total} bytes (D-Bus allows {MAX_MESSAGE})")
        self._fixed = (endian == BIG, kind, flags, fields_len, body_len)
        return int(total)

    def _handle(self, start: int, size: int, big: bool, kind: int, flags: int, fields_len: int,
                body_len: int) -> None:
        raw = bytes(self._view[start + FIXED_HEADER:start + FIXED_HEADER + fields_len])
        header = self._headers.get((big, raw))
        if header is None:
            header = self._parse_header(raw, big)
            if len(self._headers) < HEADER_CACHE:
                self._headers[(big, raw)] = header
        fds = self._claim_fds(header.unix_fds)
        if header.frame is not None and not fds and not big and kind == METHOD_CALL \
                and flags & NO_REPLY_EXPECTED:
            decoder, handler = header.frame
            args = decoder.decode(self._view, start + size - body_len, body_len)
            if args is not None:
                handler(*args)
                return
        self._handle_message(bytes(self._view[start:start + size]), fds)

    def _parse_header(self, raw: bytes, big: bool) -> _Header:
        fields = parse_fields(raw, big)
        unix_fds = fields.get(UNIX_FDS, 0)
        if not isinstance(unix_fds, int) or unix_fds > MAX_QUEUED_FDS:
            raise ProtocolError(f"a message announcing {unix_fds} fds")
        key = (fields.get(PATH), fields.get(INTERFACE), fields.get(MEMBER), fields.get(SIGNATURE, ""))
        return _Header(unix_fds, self._frames.get(key))  # type: ignore[arg-type]  # a key with None finds nothing

    def _claim_fds(self, count: int) -> list[int]:
        if not count:
            return []
        if len(self._fds) < count:
            raise ProtocolError(f"a message announcing {count} fds, {len(self._fds)} received")
        fds = self._fds[:count]
        del self._fds[:count]
        return fds

    def _handle_message(self, data: bytes, fds: list[int]) -> None:
        """A message that is not a frame call: dbus-fast's Message, handed to ``process``."""
        try:
            stream: Any = io.BytesIO(data)  # dbus-fast reads any stream; its annotation names one kind
            msg = Unmarshaller(stream, None, True).unmarshall()
            if msg is None:
                raise EOFError("message ends early")
        except Exception as exc:  # whatever dbus-fast's parser raises on a body it cannot read
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"unreadable D-Bus message ({type(exc).__name__}: {exc})") from None
        msg.unix_fds = fds
        try:
            self._process(msg)
        except Exception:  # a handler's bug must not end the connection (dbus-fast's reader does the same)
            log.exception("handling %s.%s failed", msg.interface, msg.member)
