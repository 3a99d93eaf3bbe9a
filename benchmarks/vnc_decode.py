"""VNC decode cost and bytes on the wire per frame, per RFB encoding, against the D-Bus display's paths.

Table 1, decode cost: CPU seconds to decode 100 MB of pixels per RFB encoding, against
memcpy of the same bytes, and what that is as a share of one core per 100 MB/s of
screen pixels (the D-Bus client's own figure is in section 1 of docs/performance.md).

For each kind of screen content (a VGA text console, a flat desktop, a full-colour
photo-like image) the frame is encoded once the way a server would send it (ZRLE: each
64x64 tile in its best subencoding; Tight: 256x64 rectangles, each a fill, a palette or
full colour), then decoded by the client's decoders into a framebuffer again and again,
each round with a fresh decoder (the zlib streams start over, as on a new connection),
until 100 MB of framebuffer pixels (BGRX, 4 bytes per pixel) were written (20 MB with
--quick).  In the same run, ``np.copyto`` of the same number of bytes is the baseline
(Raw's decode *is* a copy: its cost is reading the socket).  The encoders are the
reference ones from tests/libvirt/rfb_encoders.py.

Table 2, bytes on the wire per frame: one FramebufferUpdate (its header, each rectangle's
header and payload) for typical frames of each content, against what QEMU's D-Bus
display sends for the same damage: an ``Update`` message carrying the pixels (inline)
or an ``UpdateMap`` message naming the rectangle of the shared surface (shm), both
marshalled by dbus-fast as QEMU sends them.  Each frame is encoded by a fresh encoder
(a long-lived connection's zlib dictionary compresses later frames a little better).

    python -m benchmarks.vnc_decode [--quick]
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from dbus_fast import Message
from dbus_fast.constants import MessageFlag

from benchmarks.common import main, table
from geometry_os.plugins.libvirt.rfb.protocol import BYTES_PER_PIXEL
from geometry_os.plugins.libvirt.rfb.tight import TightDecoder
from geometry_os.plugins.libvirt.rfb.zrle import ZrleDecoder
from tests.libvirt import rfb_encoders as enc

TIGHT_RECT = (256, 64)  # width, height of the Tight rectangles a frame is cut into
MB = 1_000_000
UPDATE_HEADER = 4  # FramebufferUpdate: type, padding, number of rectangles
RECT_HEADER = 12  # x, y, w, h, encoding
LISTENER = ("/org/qemu/Display1/Listener", "org.qemu.Display1.Listener")
PIXMAN_X8R8G8B8 = 0x20020888


# ------------------------------------------------------------------ contents

def text_console(rng: np.random.Generator) -> np.ndarray:
    """720x400 VGA text: 80x25 cells of 9x16, light grey glyph-like bit patterns on black, a few coloured."""
    image = np.zeros((400, 720, 4), dtype=np.uint8)
    image[..., 3] = 0xFF
    palette = np.array([[170, 170, 170], [85, 255, 85], [255, 255, 85], [85, 85, 255]], dtype=np.uint8)
    for row in range(25):
        used = int(rng.integers(0, 81))  # lines of different lengths
        for col in range(used):
            glyph = rng.random((12, 7)) < 0.35
            colour = palette[0] if rng.random() < 0.9 else palette[rng.integers(1, 4)]
            cell = image[row * 16 + 2:row * 16 + 14, col * 9 + 1:col * 9 + 8]
            cell[glyph, :3] = colour
    return image


def flat_desktop(rng: np.random.Generator) -> np.ndarray:
    """1280x800: a solid background, overlapping windows with title bars and text-like rows."""
    image = np.empty((800, 1280, 4), dtype=np.uint8)
    image[..., :3] = (58, 110, 165)
    image[..., 3] = 0xFF
    for _ in range(6):
        x, y = int(rng.integers(0, 900)), int(rng.integers(0, 500))
        w, h = int(rng.integers(250, 500)), int(rng.integers(180, 320))
        window = image[y:y + h, x:x + w]
        window[..., :3] = (240, 240, 240)
        window[:24, :, :3] = (60, 60, 70)
        for line in range(30, window.shape[0] - 10, 18):
            length = int(rng.integers(0, max(window.shape[1] - 20, 1)))
            text = rng.random((10, length)) < 0.3
            window[line:line + 10, 10:10 + length][text, :3] = (20, 20, 20)
    return image


def photo(rng: np.random.Generator) -> np.ndarray:
    """1280x800 full colour: smooth gradients with noise (every pixel differs from its neighbours)."""
    y, x = np.mgrid[0:800, 0:1280].astype(np.float32)
    image = np.empty((800, 1280, 4), dtype=np.uint8)
    base = np.stack([x / 1280 * 200, y / 800 * 200, (x + y) / 2080 * 200], axis=-1)
    image[..., :3] = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    image[..., 3] = 0xFF
    return image


CONTENTS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "text console 720x400": text_console, "desktop 1280x800": flat_desktop, "photo 1280x800": photo}


# ------------------------------------------------------------------ encoding

def tight_mode(block: np.ndarray) -> str:
    colours = len(np.unique(block.reshape(-1, 4), axis=0))
    return "fill" if colours == 1 else "palette" if colours <= 256 else "copy"


def encode_tight(image: np.ndarray, encoder: enc.TightEncoder | None = None) -> list[tuple[int, int, int, int, bytes]]:
    """(x, y, w, h, payload) of the Tight rectangles of one frame."""
    encoder = encoder or enc.TightEncoder()
    rw, rh = TIGHT_RECT
    height, width = image.shape[:2]
    rects = []
    for y in range(0, height, rh):
        for x in range(0, width, rw):
            block = image[y:y + rh, x:x + rw]
            rects.append((x, y, block.shape[1], block.shape[0], encoder.payload(block, tight_mode(block))))
    return rects


# ------------------------------------------------------------------ bytes per frame

def vnc_bytes(damage: np.ndarray, encoding: str) -> int:
    """One FramebufferUpdate carrying ``damage`` (the changed rectangle's pixels) in ``encoding``."""
    if encoding == "Raw":
        return UPDATE_HEADER + RECT_HEADER + damage.nbytes
    if encoding == "ZRLE":
        return UPDATE_HEADER + RECT_HEADER + len(enc.ZrleEncoder().compress(enc.zrle_tiles(damage)))
    rects = encode_tight(damage)
    return UPDATE_HEADER + sum(RECT_HEADER + len(payload) for *_, payload in rects)


def dbus_bytes(damage: np.ndarray, shm: bool) -> int:
    """The D-Bus message QEMU sends for the same damage: UpdateMap (shared memory) or Update (inline)."""
    h, w = damage.shape[:2]
    if shm:
        message = Message(path=LISTENER[0], interface=LISTENER[1], member="UpdateMap", signature="iiii",
                          body=[0, 0, w, h], flags=MessageFlag.NO_REPLY_EXPECTED)
    else:
        message = Message(path=LISTENER[0], interface=LISTENER[1], member="Update", signature="iiiiuuay",
                          body=[0, 0, w, h, w * 4, PIXMAN_X8R8G8B8, damage.tobytes()],
                          flags=MessageFlag.NO_REPLY_EXPECTED)
    return len(message._marshall(False))  # dbus-fast's wire form of the message


def frames(rng: np.random.Generator) -> list[tuple[str, np.ndarray | None]]:
    """Typical frames: (what changed, the changed pixels; None for a window moved, which VNC sends as
    CopyRect and D-Bus as the pixels of the moved area)."""
    text, desktop, picture = text_console(rng), flat_desktop(rng), photo(rng)
    return [("text console: cursor blink (9x16)", text[16:32, 9:18]),
            ("text console: a typed line (720x16)", text[32:48]),
            ("text console: full screen (720x400)", text),
            ("desktop: a window moved (400x300)", None),
            ("desktop: full screen (1280x800)", desktop),
            ("photo: full screen (1280x800)", picture)]


def wire_rows(rng: np.random.Generator) -> list[list[Any]]:
    rows = []
    moved = flat_desktop(rng)[100:400, 100:500]
    for name, damage in frames(rng):
        if damage is None:  # CopyRect: the rectangle header and a source position, whatever the encoding
            copy = UPDATE_HEADER + RECT_HEADER + struct.calcsize(">HH")
            rows.append([name, copy, copy, copy, dbus_bytes(moved, shm=False), dbus_bytes(moved, shm=True)])
            continue
        rows.append([name, *(vnc_bytes(damage, e) for e in ("Raw", "ZRLE", "Tight")),
                     dbus_bytes(damage, shm=False), dbus_bytes(damage, shm=True)])
    return rows


# ------------------------------------------------------------------ decoding

def decode_raw(wire: bytes, fb: np.ndarray) -> None:
    fb[:] = np.frombuffer(wire, dtype=np.uint8).reshape(fb.shape)


def decode_zrle(wire: bytes, fb: np.ndarray) -> None:
    ZrleDecoder().decode(wire, fb)


def decode_tight(rects: list[tuple[int, int, int, int, bytes]], fb: np.ndarray) -> None:
    async def all_rects() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"".join(payload for *_, payload in rects))
        reader.feed_eof()
        decoder = TightDecoder()
        for x, y, w, h, _ in rects:
            await decoder.decode(reader, fb[y:y + h, x:x + w])
    asyncio.run(all_rects())


def timed(decode: Callable[[Any, np.ndarray], None], wire: Any, fb: np.ndarray, target_bytes: int) -> float:
    """CPU seconds (this thread's, so other processes on a shared machine do not count) per byte of
    framebuffer written, over rounds until ``target_bytes`` were written."""
    decode(wire, fb)  # a warm-up round: first touches of the pages and caches are not counted
    done = 0
    spent = 0.0
    while done < target_bytes:
        start = time.thread_time()
        decode(wire, fb)
        spent += time.thread_time() - start
        done += fb.nbytes
    return spent / done


def memcpy_seconds_per_byte(nbytes: int, target_bytes: int) -> float:
    src = np.random.default_rng(1).integers(0, 256, nbytes, dtype=np.uint8)
    dst = np.empty_like(src)
    return timed(lambda _, out: np.copyto(out, src), None, dst, target_bytes)


def run(quick: bool = False) -> dict[str, Any]:
    target = (20 if quick else 100) * MB
    rng = np.random.default_rng(0)
    rows = []
    for name, make in CONTENTS.items():
        image = make(rng)
        height, width = image.shape[:2]
        fb = np.zeros_like(image)
        pixel_bytes = width * height * BYTES_PER_PIXEL
        zrle_wire = enc.ZrleEncoder().compress(enc.zrle_tiles(image))[4:]
        tight_rects = encode_tight(image)
        wires: dict[str, tuple[Callable[[Any, np.ndarray], None], Any, int]] = {
            "Raw": (decode_raw, image.tobytes(), pixel_bytes),
            "ZRLE": (decode_zrle, zrle_wire, len(zrle_wire)),
            "Tight": (decode_tight, tight_rects, sum(len(r[4]) for r in tight_rects)),
        }
        memcpy = memcpy_seconds_per_byte(pixel_bytes, target)
        for encoding, (decode, wire, wire_bytes) in wires.items():
            per_byte = timed(decode, wire, fb, target)
            assert np.array_equal(fb[..., :3], image[..., :3]), f"{encoding} decoded {name} wrongly"
            rows.append([name, encoding, round(wire_bytes / pixel_bytes, 3), per_byte * 100 * MB,
                         per_byte * 100 * MB * 100, memcpy * 100 * MB, round(per_byte / memcpy, 1),
                         1 / per_byte / MB])
    return {
        "title": "9. VNC (libvirt tiles): decode cost per encoding, and bytes on the wire per frame against the "
                 "D-Bus paths",
        "tables": {
            "decode: CPU per 100 MB of framebuffer pixels, against memcpy of the same bytes": table(
                ["content", "encoding", "wire / pixel bytes", "decode s / 100 MB", "% of a core per 100 MB/s",
                 "memcpy s / 100 MB", "decode / memcpy", "decode MB/s"], rows),
            "bytes on the wire per frame": table(
                ["frame", "VNC Raw", "VNC ZRLE", "VNC Tight", "D-Bus inline (Update)", "D-Bus shm (UpdateMap)"],
                wire_rows(np.random.default_rng(0))),
        },
        "notes": ["Raw's decode is one copy from the received bytes; its real cost is reading the socket.",
                  "Times are the decoding thread's CPU time; numpy and zlib as installed; each round starts "
                  "fresh zlib streams.",
                  "The D-Bus client's cost per 100 MB/s is section 1's (shared memory and inline); on the shm "
                  "path the pixels never travel: QEMU names a rectangle of a surface both sides map.",
                  "A window moved is one CopyRect in VNC whatever the encoding; D-Bus has no copy operation, "
                  "so inline it carries the moved pixels."],
    }


if __name__ == "__main__":
    main(run)
