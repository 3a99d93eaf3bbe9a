"""Which way a domain's screen reaches its tile, chosen from the domain's live XML, best first.

1. ``<graphics type='dbus' p2p='yes'/>`` on this machine: ``openGraphicsFD`` gives the
   peer-to-peer D-Bus display our own QEMU tiles use (shared-memory frames, no copy
   through a socket, QEMU's key numbers, the guest cursor).
2. VNC: on this machine through ``openGraphicsFD`` (no password, no port needed); on a
   remote host through an SSH tunnel to the VNC socket (``<listen type='socket'/>``)
   or port the live XML names.
3. Anything else (SPICE, the only display of virt-manager's default domains; a D-Bus
   display without ``p2p``; no graphics): libvirt's screenshot API at a rate that
   follows the tile's size on screen, keys through ``sendKey``, no pointer.  The
   plan's :attr:`GraphicsPlan.note` says why, and the one-line XML change that would
   make the tile live; nothing here ever changes a domain.

The XML comes from libvirtd (of a remote host, too): it is parsed defensively and a
malformed document is a plan for screenshots with a note, never an exception.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import attrs

DBUS, VNC, SCREENSHOT = "dbus", "vnc", "screenshot"
PATHS = ("auto", DBUS, VNC, SCREENSHOT)

ADD_DBUS = "<graphics type='dbus' p2p='yes'/>"
ADD_VNC = "<graphics type='vnc'><listen type='socket'/></graphics>"

_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


@attrs.frozen
class GraphicsPlan:
    """How to show one running domain: ``path`` (dbus, vnc, screenshot) and what it needs."""

    path: str
    index: int = -1  # the <graphics> element's position: openGraphicsFD's idx
    socket: str | None = None  # VNC Unix socket on the domain's host (the tunnel's far end)
    host: str | None = None  # VNC TCP listen address on the domain's host ...
    port: int | None = None  # ... and port
    password: str | None = None  # VNC password (only in XML read with VIR_DOMAIN_XML_SECURE)
    note: str = ""  # why not a better path, and the XML change that gives one ("" when this is the best)

    @property
    def live(self) -> bool:
        return self.path != SCREENSHOT


@attrs.frozen
class _Graphics:
    index: int
    type: str
    p2p: bool
    socket: str | None
    host: str | None
    port: int | None
    password: str | None


def _graphics(xml_text: str) -> list[_Graphics]:
    """Every <devices><graphics> element, in document order; ValueError when the XML is not a domain."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"the domain XML does not parse ({exc})") from None
    if root.tag != "domain":
        raise ValueError(f"the XML describes a <{root.tag}>, not a <domain>")
    found = []
    for index, node in enumerate(root.findall("./devices/graphics")):
        listen = node.find("listen")
        socket = node.get("socket") or (listen.get("socket") if listen is not None else None)
        host = node.get("listen") or (listen.get("address") if listen is not None else None)
        try:
            port: int | None = int(node.get("port", ""))
        except ValueError:
            port = None
        found.append(_Graphics(index=index, type=node.get("type", ""), p2p=node.get("p2p") == "yes",
                               socket=socket or None, host=host, port=port if port and port > 0 else None,
                               password=node.get("passwd")))
    return found


def _fallback(found: list[_Graphics], remote: bool, name: str) -> GraphicsPlan:
    """Screenshots, with the note that says why and what to add."""
    change = ADD_VNC if remote else ADD_DBUS
    fix = f"add {change} (virsh edit {name}) for a live tile"
    kinds = [g.type for g in found]
    if not kinds:
        why = "no graphics device"
    elif "spice" in kinds:
        why = "SPICE only: screenshots, keys, no mouse"
    elif any(g.type == "dbus" for g in found):
        why = ("the D-Bus display does not cross hosts" if remote
               else "D-Bus display without p2p='yes': screenshots, keys, no mouse")
    else:
        why = f"{'/'.join(sorted(set(kinds)))} only: screenshots, keys, no mouse"
    return GraphicsPlan(SCREENSHOT, note=f"{why}; {fix}")


def _vnc_plan(vnc: _Graphics, remote: bool) -> GraphicsPlan | None:
    if not remote:
        return GraphicsPlan(VNC, index=vnc.index, password=vnc.password)
    if vnc.socket:
        return GraphicsPlan(VNC, index=vnc.index, socket=vnc.socket, password=vnc.password)
    if vnc.port is not None:
        host = "127.0.0.1" if (vnc.host or "").strip() in _WILDCARDS else vnc.host
        return GraphicsPlan(VNC, index=vnc.index, host=host, port=vnc.port, password=vnc.password)
    return None  # not running, or a VNC without a place to connect to


def choose(xml_text: str, *, remote: bool, name: str, prefer: str = "auto") -> GraphicsPlan:
    """The best way to show the domain whose live XML is ``xml_text``.

    ``remote``: the connection is to another host (no ``openGraphicsFD``).  ``prefer``
    (``auto``, ``dbus``, ``vnc``, ``screenshot``) forces a path where the domain has it;
    where it has not, the best available one is used and the note says so.
    """
    if prefer not in PATHS:
        raise ValueError(f"graphics must be one of {', '.join(PATHS)}, not {prefer!r}")
    try:
        found = _graphics(xml_text)
    except ValueError as exc:
        return GraphicsPlan(SCREENSHOT, note=str(exc))
    dbus = next((g for g in found if g.type == "dbus" and g.p2p), None)
    vnc = next((g for g in found if g.type == "vnc"), None)
    vnc_plan = _vnc_plan(vnc, remote) if vnc is not None else None
    dbus_plan = GraphicsPlan(DBUS, index=dbus.index) if dbus is not None and not remote else None
    if prefer == SCREENSHOT:
        return GraphicsPlan(SCREENSHOT, note="graphics: screenshot asked for in the scene")
    wanted = {DBUS: dbus_plan, VNC: vnc_plan}.get(prefer)
    if wanted is not None:
        return wanted
    best = dbus_plan or vnc_plan
    if best is None:
        return _fallback(found, remote, name)
    if prefer != "auto":  # asked for a path the domain does not have
        return attrs.evolve(best, note=f"graphics: {prefer} asked for, but the domain has no usable {prefer} "
                                       f"display here")
    return best
