"""The RFB handshake up to ServerInit: protocol version, security (None or VNC authentication), init.

Versions 3.3, 3.7 and 3.8 differ only here: how security types are offered and
whether a SecurityResult (and its failure reason) follows.  Anything the server
says that we cannot use ends in a one-line :class:`RfbError`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import NamedTuple

from .des import vnc_auth_response
from .protocol import MAX_NAME, MAX_REASON, RfbError, check_size, read_exactly, u16, u32

log = logging.getLogger(__name__)

SECURITY_INVALID = 0
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2
_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")


class ServerInit(NamedTuple):
    """What the server told us about itself."""

    version: tuple[int, int]  # the version we speak with it: (3, 3), (3, 7) or (3, 8)
    width: int
    height: int
    pixel_format: bytes  # the server's preferred format (16 bytes); we replace it at once
    name: str


async def _read_string(reader: asyncio.StreamReader, limit: int, what: str) -> str:
    length = u32(await read_exactly(reader, 4, f"{what} length"))
    if length > limit:
        raise RfbError(f"{what} is {length} bytes, more than the {limit} accepted")
    return (await read_exactly(reader, length, what)).decode("utf-8", "replace")


def _negotiate_version(line: bytes) -> tuple[int, int]:
    match = _VERSION.fullmatch(line)
    if match is None:
        raise RfbError(f"not an RFB server: version line {line!r}")
    major, minor = int(match[1]), int(match[2])
    if major < 3:
        raise RfbError(f"RFB version {major}.{minor} is older than 3.3")
    if major > 3 or minor >= 8:
        return (3, 8)
    return (3, 7) if minor == 7 else (3, 3)  # 3.4-3.6 are 3.3 by the specification


async def _choose_security(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           version: tuple[int, int], password: str | None) -> int:
    if version == (3, 3):
        chosen = u32(await read_exactly(reader, 4, "security type"))
        offered = [chosen]
    else:
        count = (await read_exactly(reader, 1, "security type count"))[0]
        if count == SECURITY_INVALID:
            offered = [SECURITY_INVALID]
        else:
            offered = list(await read_exactly(reader, count, "security types"))
    if offered == [SECURITY_INVALID]:
        raise RfbError(f"server refused the connection: {await _read_string(reader, MAX_REASON, 'refusal reason')}")
    if SECURITY_NONE in offered and (password is None or SECURITY_VNC_AUTH not in offered):
        chosen = SECURITY_NONE
    elif SECURITY_VNC_AUTH in offered:
        if password is None:
            raise RfbError("server requires VNC authentication and no password was given")
        chosen = SECURITY_VNC_AUTH
    else:
        raise RfbError(f"no supported security type among {offered} (this client does None=1 and VNC "
                       "authentication=2)")
    if version != (3, 3):
        writer.write(bytes([chosen]))
    return chosen


async def _security_result(reader: asyncio.StreamReader, version: tuple[int, int]) -> None:
    status = u32(await read_exactly(reader, 4, "security result"))
    if status == 0:
        return
    reason = await _read_string(reader, MAX_REASON, "failure reason") if version == (3, 8) else ""
    raise RfbError(f"authentication failed (status {status}){': ' + reason if reason else ''}")


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                    password: str | None = None, shared: bool = True) -> ServerInit:
    """Run the handshake on a connected stream and return the server's init message.

    ``shared`` asks the server to keep its other clients connected.  The caller bounds
    the time (``asyncio.wait_for``): a silent server is not detected here.
    """
    version = _negotiate_version(await read_exactly(reader, 12, "protocol version"))
    writer.write(b"RFB %03d.%03d\n" % version)
    security = await _choose_security(reader, writer, version, password)
    if security == SECURITY_VNC_AUTH:
        assert password is not None  # _choose_security checked
        challenge = await read_exactly(reader, 16, "VNC authentication challenge")
        writer.write(vnc_auth_response(password, challenge))
    if version == (3, 8) or security == SECURITY_VNC_AUTH:
        await writer.drain()
        await _security_result(reader, version)
    writer.write(bytes([1 if shared else 0]))
    await writer.drain()
    head = await read_exactly(reader, 20, "ServerInit")
    width, height = u16(head, 0), u16(head, 2)
    check_size(width, height, "ServerInit")
    name = await _read_string(reader, MAX_NAME, "desktop name")
    log.debug("RFB %d.%d, security %d, %dx%d, %r", *version, security, width, height, name)
    return ServerInit(version, width, height, bytes(head[4:20]), name)
