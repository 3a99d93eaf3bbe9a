"""Params validation, media checks and the QEMU argv (no QEMU started)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import attrs
import pytest

from geometry_os.plugins.qemu.command import build_argv, escape, has_network_device, image_format
from geometry_os.plugins.qemu.params import QemuParams, check_media
from geometry_os.settings import CHOICES, DOC, check_value


def argv_for(tmp_path: Path, **kw) -> list[str]:
    return build_argv(QemuParams(**kw), binary="/usr/bin/qemu-system-x86_64", scene_dir=tmp_path,
                      runtime_dir=tmp_path / "run", accel="tcg", qmp_fd=7, name="t")


def test_every_field_is_a_documented_setting():
    for field in attrs.fields(QemuParams):
        assert field.metadata.get(DOC), f"{field.name} has no doc"
    fields = {f.name: f for f in attrs.fields(QemuParams)}
    assert check_value(fields["memory"], 8) is not None
    assert check_value(fields["cpus"], 65) is not None
    assert check_value(fields["accel"], "hvf") is not None
    assert fields["transport"].metadata[CHOICES] == ("auto", "shm", "inline")
    params = QemuParams()
    assert (params.memory, params.cpus, params.accel, params.network, params.persistent) == \
        (256, 1, "auto", False, False)
    assert params.disk == [] and params.extra_args == []


def test_missing_iso_reason_names_the_file(tmp_path):
    reasons = check_media(QemuParams(iso="nope.iso"), tmp_path)
    assert reasons == [f"iso {tmp_path / 'nope.iso'}: No such file or directory"]


def test_media_checks(tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 512)
    assert check_media(QemuParams(disk=["d.img"]), tmp_path) == []
    assert check_media(QemuParams(), tmp_path) == ["nothing to boot: set iso, disk or kernel"]
    assert "initrd/append need kernel" in check_media(QemuParams(iso="d.img", append="x"), tmp_path)
    assert "is a directory" in check_media(QemuParams(iso="."), tmp_path)[0]
    (tmp_path / "empty.iso").touch()
    assert "empty file" in check_media(QemuParams(iso="empty.iso"), tmp_path)[0]
    if os.getuid() != 0:  # root reads anything
        disk.chmod(0)
        assert "not readable" in check_media(QemuParams(disk=["d.img"]), tmp_path)[0]


def test_no_network_device_unless_asked(tmp_path):
    argv = argv_for(tmp_path, iso="x.iso")
    assert not has_network_device(argv)
    assert argv[argv.index("-nic") + 1] == "none"
    argv = argv_for(tmp_path, iso="x.iso", network=True)
    assert has_network_device(argv)
    assert argv[argv.index("-nic") + 1].startswith("user")


def test_argv_basics(tmp_path):
    argv = argv_for(tmp_path, iso="x.iso", memory=128, cpus=2, machine="q35")
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    pairs = dict(itertools.pairwise(argv))
    assert pairs["-display"] == "dbus,p2p=yes"
    assert pairs["-accel"] == "tcg" and pairs["-m"] == "128" and pairs["-smp"] == "2"
    assert pairs["-M"] == "q35"
    assert pairs["-mon"] == "chardev=qmp,mode=control"
    assert "socket,id=qmp,fd=7" in argv
    assert f"file={tmp_path / 'x.iso'},media=cdrom,readonly=on,if=ide,index=2" in argv
    assert f"file,id=serial0,path={tmp_path / 'run' / 'serial.log'}" in argv
    assert "usb-tablet,bus=xhci.0" in argv
    assert "usb-tablet,bus=xhci.0" not in argv_for(tmp_path, iso="x.iso", tablet=False)


def test_disks_are_snapshots_unless_persistent(tmp_path):
    qcow = tmp_path / "a,b.qcow2"
    qcow.write_bytes(b"QFI\xfb" + bytes(100))
    argv = argv_for(tmp_path, disk=[qcow.name])
    drive = next(a for a in argv if a.startswith("file="))
    assert drive == f"file={escape(str(qcow))},format=qcow2,if=virtio,snapshot=on"
    assert ",," in drive  # the comma in the name is escaped
    argv = argv_for(tmp_path, disk=[qcow.name], persistent=True, disk_interface="ide")
    assert next(a for a in argv if a.startswith("file=")).endswith("format=qcow2,if=ide")
    raw = tmp_path / "r.img"
    raw.write_bytes(bytes(512))
    assert image_format(raw) == "raw"


@pytest.mark.parametrize("display,expected", [
    ("std", ["-vga", "std"]), ("virtio", ["-vga", "none", "-device", "virtio-vga"]),
    ("bochs", ["-vga", "none", "-device", "bochs-display"]), ("none", ["-vga", "none"])])
def test_display_devices(tmp_path, display, expected):
    argv = argv_for(tmp_path, iso="x.iso", display=display)
    i = argv.index("-vga")
    assert argv[i:i + len(expected)] == expected


def test_kernel_boot_and_extra_args(tmp_path):
    argv = argv_for(tmp_path, kernel="/k", initrd="i", append="console=ttyS0,115200",
                    extra_args=["-cpu", "max"], serial="log/s.txt")
    pairs = dict(itertools.pairwise(argv))
    assert pairs["-kernel"] == "/k" and pairs["-initrd"] == str(tmp_path / "i")
    assert pairs["-append"] == "console=ttyS0,115200"
    assert argv[-2:] == ["-cpu", "max"]
    assert f"file,id=serial0,path={tmp_path / 'log' / 's.txt'}" in argv
