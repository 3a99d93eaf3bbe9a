"""Scene parameters of a QEMU tile, and the check that its media exist.

Every field is a :func:`geometry_os.settings.setting`, so the scene loader validates
types and ranges and docs/scenes.md is generated from the ``doc`` strings.
Relative paths resolve against the scene's directory (``ctx.scene_dir``).

No ``from __future__ import annotations`` here: the field types stay real types
(``str | None``, ``list[str]``) for the scene loader to read from ``attrs.fields``.
"""

import os
from pathlib import Path

import attrs

from geometry_os.api import setting

from . import images

DISPLAY_CHOICES = ("std", "virtio", "cirrus", "bochs", "none")


@attrs.define(frozen=True)
class QemuParams:
    """How to run one QEMU virtual machine as a tile."""

    image: str | None = setting(None, doc="a named boot image instead of iso/kernel/disk paths; "
                                "'geos image pull NAME' installs it (docs/images.md)",
                                choices=images.names())
    iso: str | None = setting(None, doc="CD-ROM image to boot from (path)", must_exist=True)
    disk: list[str] = setting(factory=list, doc="disk images, in order (paths); "
                              "changes are discarded unless persistent is true", must_exist=True)
    kernel: str | None = setting(None, doc="Linux kernel to boot directly (path)", must_exist=True)
    initrd: str | None = setting(None, doc="initial ramdisk for kernel (path)", must_exist=True)
    append: str | None = setting(None, doc="kernel command line (needs kernel)")
    memory: int = setting(256, doc="guest RAM in MiB", min=16, max=1048576)
    cpus: int = setting(1, doc="virtual CPUs", min=1, max=64)
    accel: str = setting("auto", doc="accelerator: auto uses KVM when it really works, "
                         "else TCG", choices=("auto", "kvm", "tcg"))
    machine: str = setting("pc", doc="QEMU machine type (-M), e.g. pc or q35")
    display: str = setting("std", doc="display device: std (-vga std), virtio (virtio-vga), "
                           "cirrus, bochs (bochs-display) or none", choices=DISPLAY_CHOICES)
    tablet: bool = setting(True, doc="add a USB tablet so the pointer maps 1:1 "
                           "(needs guest USB HID support)")
    serial: str | None = setting(None, doc="write the guest's serial port to this file "
                                 "(default: serial.log in the tile's runtime directory)")
    persistent: bool = setting(False, doc="write changes to the disk images "
                               "(off: disks run with snapshot=on)")
    disk_interface: str = setting("virtio", doc="bus the disks attach to",
                                  choices=("virtio", "ide"))
    transport: str = setting("auto", doc="how pixels travel: shm (shared memory, QEMU >= 9.2), "
                             "inline (copied in messages) or auto", choices=("auto", "shm", "inline"))
    network: bool = setting(False, doc="give the guest a user-mode NIC (-nic user); "
                            "off: no network device at all")
    resume: bool = setting(False, doc="save the whole VM (memory, devices) when the shell exits and "
                           "continue exactly there on the next run, like hibernation; with disks "
                           "it needs persistent (docs/qemu.md)")
    serial_console: bool = setting(False, doc="show the guest's serial port as a terminal tile docked to the "
                                   "right of this one (the tile menu toggles it); a tile with display: none "
                                   "is its serial console anyway")
    resize: str = setting("fixed", doc="follow: ask the guest for a screen mode the size of the tile on screen "
                          "(virtio display and a guest KMS driver needed); fixed: never ask",
                          choices=("fixed", "follow"))
    audio: bool = setting(False, doc="give the guest a sound card (intel-hda with hda-duplex) whose sound the "
                          "shell plays from where the tile is on the map")
    clipboard: bool = setting(False, doc="share the clipboard with the guest through QEMU's qemu-vdagent "
                              "(the guest needs spice-vdagent); without it, paste types the text as keys")
    sandbox: bool = setting(True, doc="confine QEMU with its seccomp sandbox (-sandbox on with obsolete, "
                            "elevateprivileges, spawn and resourcecontrol denied) where the QEMU build "
                            "supports it ('geos doctor' says); off only to debug QEMU itself")
    extra_args: list[str] = setting(factory=list, doc="extra QEMU arguments, appended as-is")

    def __attrs_post_init__(self) -> None:
        if self.resize == "follow" and self.display != "virtio":
            raise ValueError("resize: follow needs display: virtio (only virtio-gpu takes a mode from the host)")
        if self.resume and self.disk and not self.persistent:
            raise ValueError("resume needs persistent: true when there are disks "
                             "(the saved memory would not match disks whose changes were discarded)")
        if self.image is None:
            return
        try:
            image = images.get(self.image)  # a scene's unknown name is caught by choices already
        except images.ImageError as exc:
            raise ValueError(str(exc)) from None
        clash = [name for name in IMAGE_EXCLUDES if getattr(self, name)]
        if clash:
            raise ValueError(f"image and {'/'.join(clash)} both given: choose one")
        if self.memory < image.memory:
            raise ValueError(f"image {image.name} needs memory >= {image.memory} (got {self.memory})")


# What an image provides: a tile naming an image cannot also set these.
IMAGE_EXCLUDES = ("iso", "disk", "kernel", "initrd", "append")


def resolve(path: str, scene_dir: Path) -> Path:
    """``path`` with ``~`` expanded, made absolute against ``scene_dir``."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else Path(scene_dir) / p


def boot_params(params: QemuParams) -> QemuParams:
    """``params`` with a named image replaced by the media it boots (the same when none).

    Raises :class:`images.ImageError` (one line) when the image is not installed.
    """
    if params.image is None:
        return params
    media = images.get(params.image).require()
    return attrs.evolve(
        params, image=None, iso=_str_or_none(media.iso),
        kernel=_str_or_none(media.kernel), initrd=_str_or_none(media.initrd),
        append=media.append, disk=[str(path) for path in media.disk],
        disk_interface=media.disk_interface or params.disk_interface)


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def media(params: QemuParams, scene_dir: Path) -> list[tuple[str, Path, bool]]:
    """(label, resolved path, needs write access) of every file the VM opens.

    A named image counts with its installed files (:func:`boot_params` raises when
    it is not installed).
    """
    params = boot_params(params)
    items: list[tuple[str, Path, bool]] = []
    if params.iso:
        items.append(("iso", resolve(params.iso, scene_dir), False))
    for i, disk in enumerate(params.disk):
        items.append((f"disk[{i}]", resolve(disk, scene_dir), params.persistent))
    if params.kernel:
        items.append(("kernel", resolve(params.kernel, scene_dir), False))
    if params.initrd:
        items.append(("initrd", resolve(params.initrd, scene_dir), False))
    return items


def check_media(params: QemuParams, scene_dir: Path) -> list[str]:
    """One-line reasons why the VM cannot start with these media; empty when fine.

    e.g. ``"iso /srv/x.iso: No such file or directory"`` or ``"image alpine is not
    installed: run 'geos image pull alpine'"``.
    """
    try:
        params = boot_params(params)
    except images.ImageError as exc:
        return [str(exc)]
    reasons: list[str] = []
    for label, path, writable in media(params, scene_dir):
        try:
            st = path.stat()
        except OSError as exc:
            reasons.append(f"{label} {path}: {exc.strerror or exc}")
            continue
        if path.is_dir():
            reasons.append(f"{label} {path}: is a directory")
        elif not os.access(path, os.R_OK):
            reasons.append(f"{label} {path}: not readable")
        elif writable and not os.access(path, os.W_OK):
            reasons.append(f"{label} {path}: not writable (persistent is true)")
        elif st.st_size == 0 and path.is_file():
            reasons.append(f"{label} {path}: empty file")
    if (params.initrd or params.append) and not params.kernel:
        reasons.append("initrd/append need kernel")
    if not (params.iso or params.disk or params.kernel):
        reasons.append("nothing to boot: set iso, disk or kernel")
    return reasons
