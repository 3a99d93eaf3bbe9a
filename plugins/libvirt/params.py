"""Scene parameters of a libvirt tile, and the libvirt plugin's options (whole connections on the map).

No ``from __future__ import annotations`` here: the field types stay real types for
the scene loader to read from ``attrs.fields``.
"""

import attrs

from geometry_os.api import setting

from . import uri as uri_module
from .graphics import PATHS

DEFAULT_URI = "qemu:///system"


@attrs.define(frozen=True)
class LibvirtParams:
    """One libvirt domain as a tile."""

    domain: str = setting(doc="the domain's name or UUID (virsh list --all --uuid)")
    uri: str = setting(DEFAULT_URI, doc="libvirt connection URI: qemu:///system on this machine, "
                       "qemu+ssh://user@host/system for another one (your SSH keys and known_hosts)")
    graphics: str = setting("auto", doc="how the screen travels: auto picks the best the domain's live XML "
                            "offers (D-Bus p2p, then VNC, then screenshots); dbus, vnc or screenshot force one "
                            "where the domain has it", choices=PATHS)

    def __attrs_post_init__(self) -> None:
        if not self.domain.strip():
            raise ValueError("domain: give the domain's name or UUID")
        uri_module.check(self.uri)


@attrs.define(frozen=True)
class LibvirtOptions:
    """``plugins.options.libvirt``: libvirt connections whose every domain is a tile."""

    connections: list[str] = setting(factory=list, doc="libvirt URIs whose domains all become tiles, laid out in "
                                     "a grid below the scene's own tiles; domains defined later appear, "
                                     "undefined ones leave (geos run --libvirt URI does this without a scene)")
    columns: int = setting(4, doc="tiles per row of that grid", min=1, max=64)
    graphics: str = setting("auto", doc="the graphics parameter of those tiles", choices=PATHS)

    def __attrs_post_init__(self) -> None:
        for uri in self.connections:
            uri_module.check(uri)
