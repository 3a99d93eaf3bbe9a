"""A VM's sound over QEMU's D-Bus audio backend, into the shell's mixer.

QEMU runs with ``-audiodev dbus`` and a sound card (:mod:`.command`).  On the VM's D-Bus
display connection (the only one QEMU serves in p2p mode: :mod:`.dbus_display`), the client calls
``org.qemu.Display1.Audio.RegisterOutListener(h)`` with one end of a socketpair.  As
with the screen's listener, QEMU answers, then *blocks its main loop* authenticating
the new connection (it is the SASL server) and reading our object's properties, so the
message handler is installed before the call and both run concurrently, bounded in
time.  QEMU then calls ``/org/qemu/Display1/AudioOutListener``:

* ``Init(t id, y bits, b signed, b float, u freq, y channels, u bytes_per_frame,
  u bytes_per_second, b big_endian)`` for each voice (also replayed on registration),
* ``SetEnabled(t id, b)``, ``SetVolume(t id, b mute, ay volume)`` (the guest's mixer),
* ``Write(t id, ay pcm)`` every ``NSamples`` frames (480: 10 ms at 48 kHz), paced by
  QEMU's clock, ``Fini(t id)``.

Calls run on the display thread and only convert and queue (:class:`~.mixer.Voice`);
malformed ones are answered with an error and counted, never raised.  The guest's
microphone (``RegisterInListener``) is not connected: a guest recording hears silence.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from dbus_fast import Message, MessageType

from .display_listener import INVALID, PROPS_IFACE, expects_reply
from .mixer import FormatError, VmSound, Voice, pcm_dtype
from .p2p_bus import P2PMessageBus

log = logging.getLogger(__name__)

AUDIO_PATH = "/org/qemu/Display1/Audio"
AUDIO_IFACE = "org.qemu.Display1.Audio"
OUT_PATH = "/org/qemu/Display1/AudioOutListener"
OUT_IFACE = "org.qemu.Display1.AudioOutListener"
TIMEOUT = 5.0

SIGNATURES = {"Init": "tybbuyuub", "Fini": "t", "SetEnabled": "tb", "SetVolume": "tbay", "Write": "tay"}


class AudioError(Exception):
    """The audio connection could not be set up (one line)."""


class AudioListener:
    """Our AudioOutListener object: QEMU's calls -> the VM's voices in the mixer."""

    def __init__(self, name: str, sound: VmSound) -> None:
        self.name = name
        self.sound = sound
        self.writes = 0
        self.rejected = 0
        self._handlers: dict[str, Callable[..., None]] = {
            "Init": self._init, "Fini": self._fini, "SetEnabled": self._set_enabled,
            "SetVolume": self._set_volume, "Write": self._write}

    def handle(self, msg: Message) -> Message | bool:
        """Dispatch a call QEMU makes on the listener object (display thread)."""
        if msg.message_type is not MessageType.METHOD_CALL or msg.path != OUT_PATH:
            return False
        if msg.interface == PROPS_IFACE:  # QEMU's proxy reads our (no) properties after the handshake
            if msg.member == "GetAll":
                return Message.new_method_return(msg, "a{sv}", [{}])
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty", "no properties")
        member = msg.member or ""
        handler = self._handlers.get(member)
        if msg.interface not in (OUT_IFACE, None) or handler is None:
            return False
        try:
            if msg.signature != SIGNATURES[member]:
                raise FormatError(f"{member} with signature {msg.signature!r}")
            handler(*msg.body)
        except (FormatError, ValueError, KeyError) as exc:
            return self._reject(msg, f"{member}: {exc}")
        return Message.new_method_return(msg) if expects_reply(msg) else True

    def _reject(self, msg: Message, reason: str) -> Message | bool:
        self.rejected += 1
        if self.rejected <= 5:
            log.warning("%s: audio call dropped (%s)", self.name, reason)
        return Message.new_error(msg, INVALID, reason) if expects_reply(msg) else True

    def _init(self, vid: int, bits: int, signed: bool, is_float: bool, freq: int, channels: int,
              bytes_per_frame: int, bytes_per_second: int, big_endian: bool) -> None:
        dtype = pcm_dtype(bits, signed, is_float, big_endian)
        if bytes_per_frame != dtype.itemsize * channels:
            raise FormatError(f"{bytes_per_frame} bytes per frame for {channels} x {bits} bits")
        voice = Voice(freq, dtype, channels)
        with self.sound.lock:
            self.sound.voices[vid] = voice
        log.info("%s: sound voice %d: %d Hz, %d channels, %d-bit %s", self.name, vid, freq, channels, bits,
                 "float" if is_float else "signed" if signed else "unsigned")

    def _fini(self, vid: int) -> None:
        with self.sound.lock:
            self.sound.voices.pop(vid, None)

    def _voice(self, vid: int) -> Voice:
        voice = self.sound.voices.get(vid)
        if voice is None:
            raise KeyError(f"voice {vid} was never initialised")
        return voice

    def _set_enabled(self, vid: int, enabled: bool) -> None:
        self._voice(vid).enabled = bool(enabled)

    def _set_volume(self, vid: int, mute: bool, volume: bytes) -> None:
        levels = np.frombuffer(bytes(volume), np.uint8).astype(np.float32) / 255.0
        gains = np.zeros(2, np.float32) if mute or not len(levels) else \
            np.array([levels[0], levels[min(1, len(levels) - 1)]], np.float32)
        self._voice(vid).guest_gain = gains

    def _write(self, vid: int, data: bytes) -> None:
        voice = self._voice(vid)
        with self.sound.lock:
            voice.write(bytes(data), time.monotonic())
        self.writes += 1


class AudioClient:
    """The sound of one VM: registers an :class:`AudioListener` on its display connection."""

    def __init__(self, name: str, sound: VmSound) -> None:
        self.name = name
        self.listener = AudioListener(name, sound)
        self._lbus: P2PMessageBus | None = None

    async def register(self, bus: P2PMessageBus) -> None:
        """Register the out-listener through ``bus`` (on its loop); AudioError (one line) when QEMU says no."""
        l_ours, l_theirs = socket.socketpair()
        lbus = self._lbus = P2PMessageBus(l_ours, auth_timeout=TIMEOUT)
        lbus.add_message_handler(self.listener.handle)  # before any byte is read: QEMU calls at once
        call = Message(path=AUDIO_PATH, interface=AUDIO_IFACE, member="RegisterOutListener", signature="h",
                       body=[0], unix_fds=[l_theirs.fileno()])
        handshake: asyncio.Future[Any] = asyncio.ensure_future(lbus.connect())  # runs while QEMU answers
        try:
            reply = await asyncio.wait_for(bus.call(call), TIMEOUT)
            if reply is None or reply.message_type is MessageType.ERROR:
                detail = (reply.body[0] if reply.body else reply.error_name) if reply is not None else "no reply"
                raise AudioError(f"RegisterOutListener refused: {detail}")
            await asyncio.wait_for(handshake, TIMEOUT)
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(f"RegisterOutListener failed: {str(exc) or type(exc).__name__}") from exc
        finally:
            l_theirs.close()
            if not handshake.done():
                handshake.cancel()
        log.info("%s: sound connected", self.name)

    def close(self) -> None:
        """Drop the listener connection (QEMU is stopping; the listener's loop may be gone already)."""
        lbus, self._lbus = self._lbus, None
        if lbus is not None:
            try:
                lbus.disconnect()
            except Exception as exc:  # already gone with QEMU or its loop
                log.debug("%s: audio bus disconnect failed: %r", self.name, exc)
