"""Real libvirt domains for the tests: the tiny Linux guest under TCG, defined through libvirt, watched on serial.

Each :class:`Guest` is a persistent domain (``type='qemu'``, 128 MB, one vCPU) booting
the tiny Linux ISO, with its serial port appended to a file we read (the guest's
shell answers there, and its fw_cfg job ``evread`` prints the input events it sees),
a USB tablet, and the graphics the test asks for.  The ISO is copied to a folder
QEMU (running as libvirt-qemu) can read.  Tests compare a tile's pixels with the
domain's own screenshot (``virDomainScreenshot``), retrying while the text cursor
blinks.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from geometry_os import api

BOOT_TIMEOUT = 300.0  # TCG on two shared cores: the prompt came after 60-120 s when measured
MATCH_TIMEOUT = 60.0

DBUS_P2P = "<graphics type='dbus' p2p='yes'/>"
VNC_SOCKET = "<graphics type='vnc'><listen type='socket'/></graphics>"
SPICE_SOCKET = "<graphics type='spice'><listen type='socket'/></graphics>"


def domain_xml(name: str, iso: Path, serial: Path, graphics: str) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/></os>
  <sysinfo type='fwcfg'><entry name='opt/geos/run'>evread</entry></sysinfo>
  <features><acpi/></features>
  <on_reboot>restart</on_reboot>
  <devices>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/><source file='{iso}'/><target dev='hdc' bus='ide'/><readonly/>
    </disk>
    <serial type='file'><source path='{serial}' append='on'/><target port='0'/></serial>
    <input type='tablet' bus='usb'/>
    {graphics}
    <video><model type='vga'/></video>
    <audio id='1' type='none'/>
    <memballoon model='none'/>
  </devices>
</domain>"""


class Guest:
    """One test domain, seen through the test's own libvirt connection."""

    def __init__(self, conn: Any, name: str, folder: Path, iso: Path, graphics: str) -> None:
        self.conn = conn
        self.name = name
        self.serial = folder / f"{name}.serial"
        self.dom = conn.defineXML(domain_xml(name, iso, self.serial, graphics))
        self.uuid: str = self.dom.UUIDString()

    def start(self) -> None:
        self.dom.create()

    def remove(self) -> None:
        import libvirt

        if self.dom.isActive():
            self.dom.destroy()
        self.dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)

    # ------------------------------------------------------------- serial
    def serial_text(self) -> str:
        try:
            return self.serial.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_serial(self, pattern: str, since: int = 0, timeout: float = 60.0) -> re.Match[str]:
        return api.wait_until(lambda: re.search(pattern, self.serial_text()[since:]), timeout,
                              what=f"{pattern!r} on {self.name}'s serial port (tail: {self.serial_text()[-300:]!r})",
                              interval=0.1)

    def wait_booted(self) -> None:
        """Until the guest's shell prompt and its evread job are up."""
        self.wait_serial(r"tiny# ", timeout=BOOT_TIMEOUT)
        self.wait_serial(r"EVREAD open", timeout=60)

    # ------------------------------------------------------------- screen
    def screenshot(self) -> np.ndarray:
        """The domain's screen as libvirt sees it (QEMU screendump), RGB."""
        from PIL import Image

        stream = self.conn.newStream(0)
        self.dom.screenshot(stream, 0, 0)
        data = b""
        while chunk := stream.recv(1 << 18):
            data += chunk
        stream.finish()
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def tile_rgb(mailbox: api.FrameMailbox) -> np.ndarray | None:
    pixels = mailbox.peek_pixels()
    return None if pixels is None else pixels[..., 2::-1]


def wait_pixels_match(mailbox: api.FrameMailbox, guest: Guest, timeout: float = MATCH_TIMEOUT) -> np.ndarray:
    """Until the tile's framebuffer equals the domain's screenshot pixel for pixel; returns it (RGB)."""
    deadline = time.monotonic() + timeout
    while True:
        shot = guest.screenshot()
        ours = tile_rgb(mailbox)
        if ours is not None and ours.shape == shot.shape and np.array_equal(ours, shot):
            return shot
        if time.monotonic() > deadline:
            detail = ("no frame" if ours is None else
                      f"size {ours.shape[1]}x{ours.shape[0]} != {shot.shape[1]}x{shot.shape[0]}"
                      if ours.shape != shot.shape else f"{int((ours != shot).any(axis=2).sum())} pixels differ")
            raise AssertionError(f"{guest.name}: tile never matched the domain's screenshot in {timeout:g} s: "
                                 f"{detail}")
        time.sleep(0.1)
