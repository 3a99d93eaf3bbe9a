"""The QEMU backend: a tile is a real QEMU virtual machine (source type ``qemu``).

Where things are:

* the tile: :mod:`.params` (scene parameters), :mod:`.source` (``QemuSource``, the
  frame source the shell drives, and its capabilities);
* one run of a VM: :mod:`.session` (the state machine: start, watch, stop),
  :mod:`.vmstate` (save the whole VM to a file, resume from it),
  :mod:`.watchers` (QMP liveness and telemetry loops), :mod:`.telemetry` (the
  meters), :mod:`.command` (the QEMU command line), :mod:`.process` (the QEMU
  process: spawn, stderr, exit, bounded stop), :mod:`.monitor` (QMP),
  :mod:`.backend` (the asyncio loop thread QMP and processes live on),
  :mod:`.registry` (no orphan QEMUs);
* the screen and input over ``-display dbus``: :mod:`.dbus_display` (the
  connection: handshake, signals, keyboard and mouse), :mod:`.display_listener`
  (QEMU's calls on our listener object), :mod:`.listener_reader` (the listener
  connection's reader, frames decoded in place), :mod:`.display_surface` (the framebuffer,
  pure numpy), :mod:`.pixels` (pixel formats), :mod:`.p2p_bus` (D-Bus without a
  bus daemon);
* named boot images: :mod:`.images` (the catalogue), :mod:`.image_media`,
  :mod:`.image_tools`, :mod:`.image_download`, :mod:`.image_alpine`,
  :mod:`.image_cli` (``geos image``);
* the other channels of a VM: :mod:`.serial` (the serial port as a line of bytes),
  :mod:`.terminal` / :mod:`.terminal_render` / :mod:`.terminal_keys` /
  :mod:`.terminal_view` (a terminal on it), :mod:`.console` (the ``qemu-console``
  source type), :mod:`.resize` (``resize: follow``), :mod:`.channels` (the layer that
  docks consoles and reports tile sizes), :mod:`.actions` (tile menu entries);
* :mod:`.accel`: KVM probe, what the installed QEMU supports, its sandbox (``geos doctor``).

docs/qemu.md is the user's guide; docs/images.md the images'.
"""

from __future__ import annotations

from geometry_os import api

from . import accel, actions, command, image_cli, registry, serial
from .channels import ChannelsLayer
from .console import SOURCE_TYPE as CONSOLE_TYPE
from .console import ConsoleParams, ConsoleSource
from .params import QemuParams
from .source import QemuSource


@api.hookimpl
def register_sources() -> list[api.SourceType]:
    return [api.SourceType("qemu", QemuParams, QemuSource,
                           "A QEMU virtual machine; its screen streamed through -display dbus."),
            api.SourceType(CONSOLE_TYPE, ConsoleParams, ConsoleSource,
                           "The serial console of a QEMU tile, as a terminal.")]


@api.hookimpl
def register_layers() -> list[api.LayerType]:
    return [api.LayerType("qemu-channels", order=5, factory=ChannelsLayer)]


@api.hookimpl
def register_actions() -> list[api.ActionType]:
    return list(actions.ACTIONS)


def _qemu_checks() -> list[api.CheckResult]:
    caps = accel.qemu_capabilities()
    if caps["binary"] is None:
        return [api.CheckResult("fail", "QEMU", caps["error"] or "not found")]
    results = [api.CheckResult("ok" if caps["version"] else "warn", "QEMU",
                               f"{caps['binary']} version {caps['version'] or 'unknown'}")]
    version = caps["version_tuple"] or (0, 0, 0)
    if version[:2] < (7, 0):
        results.append(api.CheckResult("fail", "QEMU version", "7.0 or newer needed for -display dbus"))
    results.append(api.CheckResult("ok", "D-Bus display (ui-dbus)", "installed") if caps["dbus_display"]
                   else api.CheckResult("fail", "D-Bus display (ui-dbus)",
                                        "missing: apt install qemu-system-gui"))
    results.append(api.CheckResult("ok", "shared-memory scanout", "yes (QEMU >= 9.2)") if caps["shm_scanout"]
                   else api.CheckResult("warn", "shared-memory scanout",
                                        "no: QEMU < 9.2, pixels travel inline (slower)"))
    results.append(api.CheckResult("ok", "QEMU sandbox (seccomp)", "works: VMs run with -sandbox "
                                   f"{command.SANDBOX}") if caps["sandbox"]
                   else api.CheckResult("warn", "QEMU sandbox (seccomp)",
                                        f"unavailable ({caps['sandbox_error']}): VMs run unconfined"))
    usable, reason = accel.kvm_usable(caps["binary"])
    results.append(api.CheckResult("ok" if usable else "warn", "KVM",
                                   "usable: accel auto uses it" if usable
                                   else f"not usable ({reason}): accel auto uses TCG (slow)"))
    return results


@api.hookimpl
def register_checks() -> list[api.CheckType]:
    return [api.CheckType("qemu", _qemu_checks)]


@api.hookimpl
def register_commands() -> list[api.CommandType]:
    return [image_cli.command]


@api.hookimpl
def scene_loaded(shell: api.ShellView, scene: api.Scene) -> None:
    """The map is up (on the main thread): a SIGTERM or SIGHUP from now on kills every
    QEMU this shell started before the shell goes (see :mod:`.registry`)."""
    registry.install_signal_handlers()


@api.hookimpl
def scene_closing(shell: api.ShellView, scene: api.Scene) -> None:
    """The shell's serial lines are not found by consoles any more (the running ones keep theirs)."""
    serial.forget_shell(shell.runtime_dir)
