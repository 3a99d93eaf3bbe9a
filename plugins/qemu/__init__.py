"""The QEMU backend: a tile is a real QEMU virtual machine (source type ``qemu``).

Where things are: :mod:`.params` (scene parameters), :mod:`.command` (the QEMU
command line), :mod:`.session` (one run of a VM: start, watch, stop),
:mod:`.source` (the frame source the shell drives), :mod:`.dbus_display` (frames
and input over QEMU's ``-display dbus``), :mod:`.monitor` (QMP),
:mod:`.accel` (KVM probe, what the installed QEMU supports), :mod:`.registry`
(no orphan QEMUs).  docs/qemu.md is the user's guide.
"""

from __future__ import annotations

import geometry_os
from geometry_os.registry import CheckResult, CheckType, CommandType, SourceType

from . import accel, image_cli
from .params import QemuParams
from .source import QemuSource


@geometry_os.hookimpl
def register_sources() -> list[SourceType]:
    return [SourceType("qemu", QemuParams, QemuSource,
                       "A QEMU virtual machine; its screen streamed through -display dbus.")]


def _qemu_checks() -> list[CheckResult]:
    caps = accel.qemu_capabilities()
    if caps["binary"] is None:
        return [CheckResult("fail", "QEMU", caps["error"])]
    results = [CheckResult("ok" if caps["version"] else "warn", "QEMU",
                           f"{caps['binary']} version {caps['version'] or 'unknown'}")]
    version = caps["version_tuple"] or (0, 0, 0)
    if version[:2] < (7, 0):
        results.append(CheckResult("fail", "QEMU version", "7.0 or newer needed for -display dbus"))
    results.append(CheckResult("ok", "D-Bus display (ui-dbus)", "installed") if caps["dbus_display"]
                   else CheckResult("fail", "D-Bus display (ui-dbus)",
                                    "missing: apt install qemu-system-gui"))
    results.append(CheckResult("ok", "shared-memory scanout", "yes (QEMU >= 9.2)") if caps["shm_scanout"]
                   else CheckResult("warn", "shared-memory scanout",
                                    "no: QEMU < 9.2, pixels travel inline (slower)"))
    usable, reason = accel.kvm_usable(caps["binary"])
    results.append(CheckResult("ok" if usable else "warn", "KVM",
                               "usable: accel auto uses it" if usable
                               else f"not usable ({reason}): accel auto uses TCG (slow)"))
    return results


@geometry_os.hookimpl
def register_checks() -> list[CheckType]:
    return [CheckType("qemu", _qemu_checks)]


@geometry_os.hookimpl
def register_commands() -> list[CommandType]:
    return [image_cli.command]
