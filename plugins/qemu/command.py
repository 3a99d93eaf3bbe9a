"""The QEMU command line for a tile: a list of arguments, never a shell string.

Choices and why:

* ``-display dbus,p2p=yes``: frames go to our D-Bus client; no window, no daemon.
* QMP on an inherited socketpair (``-chardev socket,fd=N`` + ``-mon``): no socket
  path (so no 108-byte ``sun_path`` limit, no race waiting for the file, nothing
  another user can connect to).
* ``-nic none`` unless ``network``: QEMU adds a user-mode NIC by default otherwise.
* ``-monitor none -parallel none``: without them QEMU adds text consoles (HMP,
  parallel port) next to the guest's screen.
* The serial port always goes to a file (the tile's ``serial.log`` by default), so
  a guest that fails early leaves something to read.  With a reader (the tile's
  serial line, :mod:`.serial`) it is a socketpair instead, and the line writes every
  byte it reads to that file: the terminal and the log see the same bytes.  (Not
  QEMU's ``logfile=``: QEMU logs a write the socket refused for now *and* the retry,
  so a busy reader made it log bytes twice.)
* ``audio``: intel-hda + hda-duplex on the D-Bus audio backend (:mod:`.audio`).
* ``clipboard``: a ``qemu-vdagent`` chardev on the virtio-serial port a guest's
  spice-vdagent looks for (``com.redhat.spice.0``); the D-Bus Clipboard object
  then carries the text (:mod:`.clipboard`).
* Disks get ``snapshot=on`` unless ``persistent``: a tile never changes an image
  by accident.
* ``-name ...,debug-threads=on``: vCPU threads get names in /proc (telemetry and
  ``top -H`` read them).
* ``-sandbox`` (:data:`SANDBOX`, when ``sandbox`` and the build supports it): QEMU's
  seccomp filter, as libvirt runs it.  A guest that escapes into QEMU then cannot
  start programs (``spawn=deny``: no fork or exec), gain privileges, change
  scheduling or resource limits, or use obsolete system calls.  Nothing Geometry OS
  asks of QEMU needs those: every channel is an inherited socket or memfd, saves
  are QMP migrations to a file, and ``setpriv`` execs QEMU before the filter exists.
"""

from __future__ import annotations

from pathlib import Path

from .params import QemuParams, boot_params, resolve

DISPLAY_ARGS: dict[str, list[str]] = {
    "std": ["-vga", "std"],
    "virtio": ["-vga", "none", "-device", "virtio-vga"],
    "cirrus": ["-vga", "cirrus"],
    "bochs": ["-vga", "none", "-device", "bochs-display"],
    "none": ["-vga", "none"],
}

# QEMU's seccomp sandbox, every optional deny on (docs/qemu.md, "Confinement").
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

# Devices that give a guest a network interface; used to check the argv.
NETWORK_OPTIONS = ("-nic", "-netdev", "-net")


def escape(value: str) -> str:
    """Escape a value for QEMU's option parser (``,`` is written ``,,``)."""
    return str(value).replace(",", ",,")


def image_format(path: Path) -> str:
    """The disk image format from its magic bytes; raw when unrecognised."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return "raw"
    if head.startswith(b"QFI\xfb"):
        return "qcow2"
    if head.startswith(b"KDMV"):
        return "vmdk"
    if head.startswith(b"vhdxfile"):
        return "vhdx"
    if head.startswith(b"<<< "):  # "<<< Oracle VM VirtualBox Disk Image >>>"
        return "vdi"
    if head.startswith(b"conectix"):  # dynamic VHD
        return "vpc"
    return "raw"


AUDIODEV = "snd0"  # named in -display dbus too: only then does QEMU export the Audio object
AUDIO_ARGS = ["-audiodev", f"dbus,id={AUDIODEV}", "-device", "intel-hda", "-device", f"hda-duplex,audiodev={AUDIODEV}"]
CLIPBOARD_ARGS = ["-chardev", "qemu-vdagent,id=vdagent,clipboard=on", "-device", "virtio-serial-pci",
                  "-device", "virtserialport,chardev=vdagent,id=vdagent0,name=com.redhat.spice.0"]


def serial_log(params: QemuParams, scene_dir: Path, runtime_dir: Path) -> Path:
    """Where the guest's serial output is logged: ``serial``, or ``serial.log`` in the tile's directory."""
    return resolve(params.serial, scene_dir) if params.serial else runtime_dir / "serial.log"


def build_argv(params: QemuParams, *, binary: str, scene_dir: Path, runtime_dir: Path,
               accel: str, qmp_fd: int, name: str = "geos", serial_fd: int | None = None,
               sandbox: bool = False) -> list[str]:
    """The full argv (``argv[0]`` is ``binary``) for ``params``.

    ``accel`` is already resolved ("kvm" or "tcg"); ``qmp_fd`` is QEMU's end of
    the QMP socketpair, inherited by the child, and ``serial_fd`` QEMU's end of
    the serial port's (None: QEMU writes the serial port to its log file itself).
    ``sandbox``: confine QEMU with :data:`SANDBOX` (the caller checked that the
    build supports it and that ``params.sandbox`` asks for it).  A named
    image becomes its media (:func:`~.params.boot_params`; raises when it is not
    installed).
    """
    params = boot_params(params)
    argv = [binary, "-name", f"{escape(name)},debug-threads=on", "-no-user-config",
            "-accel", accel, "-M", escape(params.machine), "-m", str(params.memory),
            "-smp", str(params.cpus),
            "-display", "dbus,p2p=yes" + (f",audiodev={AUDIODEV}" if params.audio else ""),
            "-chardev", f"socket,id=qmp,fd={qmp_fd}", "-mon", "chardev=qmp,mode=control",
            "-monitor", "none", "-parallel", "none"]
    if sandbox:
        argv += ["-sandbox", SANDBOX]
    argv += DISPLAY_ARGS[params.display]
    if serial_fd is None:
        argv += ["-chardev", f"file,id=serial0,path={escape(str(serial_log(params, scene_dir, runtime_dir)))}"]
    else:
        argv += ["-chardev", f"socket,id=serial0,fd={serial_fd}"]
    argv += ["-serial", "chardev:serial0"]
    if params.audio:
        argv += AUDIO_ARGS
    if params.clipboard:
        argv += CLIPBOARD_ARGS
    argv += ["-nic", "user,model=virtio-net-pci"] if params.network else ["-nic", "none"]
    if params.tablet:
        argv += ["-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0"]
    if params.iso:
        iso = resolve(params.iso, scene_dir)
        argv += ["-drive", f"file={escape(str(iso))},media=cdrom,readonly=on,if=ide,index=2"]
    for disk in params.disk:
        path = resolve(disk, scene_dir)
        drive = f"file={escape(str(path))},format={image_format(path)},if={params.disk_interface}"
        if not params.persistent:
            drive += ",snapshot=on"
        argv += ["-drive", drive]
    if params.kernel:
        argv += ["-kernel", str(resolve(params.kernel, scene_dir))]
        if params.initrd:
            argv += ["-initrd", str(resolve(params.initrd, scene_dir))]
        if params.append:
            argv += ["-append", params.append]
    if params.iso and params.disk:
        argv += ["-boot", "order=dc"]
    argv += list(params.extra_args)
    return argv


def has_network_device(argv: list[str]) -> bool:
    """True when ``argv`` gives the guest a NIC (``-nic none`` does not count)."""
    for i, arg in enumerate(argv):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in NETWORK_OPTIONS and nxt != "none":
            return True
        if arg == "-device" and any(k in nxt for k in ("e1000", "virtio-net", "rtl8139",
                                                        "ne2k", "pcnet", "vmxnet")):
            return True
    return False
