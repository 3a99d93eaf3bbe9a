"""accel=auto probes KVM with a real guest instead of trusting /dev/kvm."""

from __future__ import annotations

import os

import pytest

from geometry_os.plugins.qemu import accel

pytestmark = pytest.mark.qemu


def test_explicit_choices_pass_through():
    assert accel.resolve_accel("tcg") == "tcg"
    assert accel.resolve_accel("kvm") == "kvm"
    with pytest.raises(ValueError):
        accel.resolve_accel("hvf")


def test_auto_follows_the_probe(qemu_binary):
    usable, reason = accel.kvm_usable()
    assert reason
    assert accel.resolve_accel("auto") == ("kvm" if usable else "tcg")


def test_auto_is_tcg_where_kvm_opens_but_cannot_run_a_guest(qemu_binary):
    """This host's trap: /dev/kvm answers the ioctls, yet guests die in KVM."""
    if not os.path.exists("/dev/kvm") or accel._kvm_ioctls() is not None:
        pytest.skip("no /dev/kvm that answers ioctls here")
    usable, reason = accel.kvm_usable()
    if usable:
        pytest.skip("KVM works on this host")
    assert "KVM" in reason
    assert accel.resolve_accel("auto") == "tcg"


def test_capabilities(qemu_binary):
    caps = accel.qemu_capabilities()
    assert caps["binary"] == qemu_binary and caps["error"] is None
    assert caps["dbus_display"] is True
    assert caps["shm_scanout"] == (caps["version_tuple"][:2] >= (9, 2))
    missing = accel.qemu_capabilities("qemu-system-nonexistent")
    assert missing["binary"] is None and "not installed" in missing["error"]
