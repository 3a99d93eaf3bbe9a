"""libvirt tiles: the VMs people already run under libvirt, on this machine and on other hosts (source ``libvirt``).

Where things are:

* the tile: :mod:`.params` (scene parameters and the plugin's options),
  :mod:`.source` (``LibvirtSource``: state from libvirt's events, the screen, input,
  lifecycle, CPU load), :mod:`.states` (libvirt states as tile states);
* libvirt itself: :mod:`.connection` (one shared connection per URI, reconnecting,
  events, CPU statistics), :mod:`.loop` (the threads libvirt work runs on),
  :mod:`.uri` (URIs and their SSH targets), :mod:`.errors` (one-line failures);
* the screen, best first (:mod:`.graphics` chooses from the live XML):
  :mod:`.display_dbus` (QEMU's p2p D-Bus display, the QEMU plugin's client),
  :mod:`.display_vnc` (:mod:`.rfb`, our VNC client; :mod:`.tunnel` for remote
  hosts), :mod:`.display_screenshot` (screenshots and sendKey);
* the map: :mod:`.grid` (every domain of a connection as a tile), :mod:`.session`
  (the grids and zoom-aware rates of one shell), :mod:`.badges` (what the tiles
  say), :mod:`.actions` (start, reboot), :mod:`.checks` (doctor).

docs/libvirt.md is the user's guide.
"""

from __future__ import annotations

from geometry_os import api

from .actions import actions
from .badges import BadgesLayer
from .checks import libvirt_checks
from .params import LibvirtOptions, LibvirtParams
from .session import LibvirtMap
from .source import LibvirtSource

_maps: dict[int, LibvirtMap] = {}  # id(shell) -> the plugin's part of that running map


def map_of(shell: api.ShellView) -> LibvirtMap | None:
    return _maps.get(id(shell))


@api.hookimpl
def register_sources() -> list[api.SourceType]:
    return [api.SourceType("libvirt", LibvirtParams, LibvirtSource,
                           "A domain libvirt runs, on this machine or another host (docs/libvirt.md).")]


@api.hookimpl
def plugin_options() -> type:
    return LibvirtOptions


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    return [api.LayerType("libvirt-badges", order=14, factory=BadgesLayer)]


@api.hookimpl
def register_actions() -> list[api.ActionType]:
    return actions()


@api.hookimpl
def register_checks() -> list[api.CheckType]:
    return [api.CheckType("libvirt", libvirt_checks)]


@api.hookimpl
def scene_loaded(shell: api.ShellView, scene: api.Scene) -> None:
    """Put the ``connections`` option's domains on the map and start following the tiles' sizes."""
    options = shell.plugin_options("libvirt")
    session = LibvirtMap(shell, options, fit=scene.camera.fit)
    _maps[id(shell)] = session
    session.start()


@api.hookimpl
def scene_closing(shell: api.ShellView, scene: api.Scene) -> None:
    session = _maps.pop(id(shell), None)
    if session is not None:
        session.close()
