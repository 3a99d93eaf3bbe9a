"""Which accelerator to use, and what the installed QEMU can do.

``accel: auto`` must not trust ``/dev/kvm``: on some hosts (nested virtualisation)
the device opens and ``KVM_CREATE_VM``/``KVM_CREATE_VCPU`` succeed, yet the first
x87 instruction of a guest stops the VM with "KVM internal error. Suberror: 1".
So :func:`kvm_usable` runs a real guest: a 64 KiB "BIOS" whose reset vector
executes ``fninit`` and writes to QEMU's ``isa-debug-exit`` port.  QEMU exits with
status 67 when KVM works; a broken KVM pauses the VM instead, which shows as the
internal-error line on stderr (after ~0.05 s here) or as a timeout.  Replacing
SeaBIOS matters: booting a boot sector through it took 2.7 s under this nested
KVM.  The answer is cached per process.

:func:`qemu_capabilities` answers ``geos doctor``: binary, version, D-Bus display
module, shared-memory scanout (QEMU >= 9.2), and whether QEMU's seccomp sandbox
works: :func:`sandbox_probe` starts the binary once with the very ``-sandbox``
option VMs get and no machine, and has it quit over QMP on stdin.  Only a start
tells: the build may lack seccomp (the option is refused) and the kernel may refuse
the filter (QEMU then exits with "failed to install seccomp syscall filter").
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from functools import lru_cache
from typing import TypedDict

from .command import SANDBOX

log = logging.getLogger(__name__)

DEFAULT_BINARY = "qemu-system-x86_64"
KVM_PROBE_TIMEOUT = 5.0
SANDBOX_PROBE_TIMEOUT = 10.0
_QMP_QUIT = b'{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n'
_KVM_GET_API_VERSION = 0xAE00
_KVM_CREATE_VM = 0xAE01
_KVM_API_VERSION = 12

# At the reset vector (last 16 bytes of the BIOS image, CS:IP = F000:FFF0):
# cli; fwait; fninit; mov al, 0x21; out 0xf4, al; hlt; jmp $-1
_PROBE_CODE = bytes([0xFA, 0x9B, 0xDB, 0xE3, 0xB0, 0x21, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
_PROBE_EXIT = (0x21 << 1) | 1  # isa-debug-exit turns value v into exit status 2v+1

_kvm_lock = threading.Lock()
_kvm_result: dict[str, tuple[bool, str]] = {}


def find_binary(binary: str | None = None) -> str | None:
    """Absolute path of the QEMU binary, or None when it is not installed."""
    return shutil.which(binary or DEFAULT_BINARY)


def _kvm_ioctls() -> str | None:
    """None when /dev/kvm answers like a working KVM, else the reason it does not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror}"
    try:
        version = fcntl.ioctl(fd, _KVM_GET_API_VERSION)
        if version != _KVM_API_VERSION:
            return f"/dev/kvm: API version {version}, expected {_KVM_API_VERSION}"
        vm_fd = fcntl.ioctl(fd, _KVM_CREATE_VM, 0)
        os.close(vm_fd)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror}"
    finally:
        os.close(fd)
    return None


def _kvm_guest_probe(binary: str) -> str | None:
    """None when a tiny real guest runs under KVM, else the reason it does not."""
    with tempfile.TemporaryDirectory(prefix="geos-kvm-probe-") as tmp:
        image = os.path.join(tmp, "probe-bios.bin")
        bios = bytearray(65536)
        bios[0xFFF0:0xFFF0 + len(_PROBE_CODE)] = _PROBE_CODE
        with open(image, "wb") as f:
            f.write(bios)
        argv = [binary, "-accel", "kvm", "-M", "pc", "-m", "16", "-nodefaults",
                "-no-user-config", "-display", "none", "-serial", "none", "-bios", image,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        started = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return f"{binary}: {exc.strerror}"
        # Read stderr until exit, the internal-error line (a broken KVM pauses the
        # VM rather than exiting) or the deadline.
        err = b""
        deadline = started + KVM_PROBE_TIMEOUT
        stderr = proc.stderr
        assert stderr is not None  # stderr=PIPE
        with proc, selectors.DefaultSelector() as sel:
            sel.register(stderr, selectors.EVENT_READ)
            while b"KVM internal error" not in err:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(stderr.fileno(), 4096)
                if not chunk:
                    break
                err += chunk
            if b"KVM internal error" in err:
                proc.kill()
                proc.wait()
                return _first_error_line(err.decode(errors="replace"))
            try:
                proc.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                line = _first_error_line(err.decode(errors="replace"))
                return line or f"KVM probe guest did not finish in {KVM_PROBE_TIMEOUT:.0f} s"
        log.debug("KVM probe: exit %s after %.2f s", proc.returncode, time.monotonic() - started)
        if proc.returncode == _PROBE_EXIT:
            return None
        line = _first_error_line(err.decode(errors="replace"))
        return f"KVM probe guest exited with {proc.returncode}" + (f": {line}" if line else "")


def _first_error_line(text: str) -> str:
    for line in (text or "").splitlines():
        if "KVM internal error" in line or "error" in line.lower():
            return line.strip()
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def kvm_usable(binary: str | None = None) -> tuple[bool, str]:
    """(usable, reason) for KVM with this QEMU; probed once per process."""
    path = find_binary(binary) or (binary or DEFAULT_BINARY)
    with _kvm_lock:
        if path not in _kvm_result:
            reason = _kvm_ioctls()
            if reason is None:
                reason = _kvm_guest_probe(path)
            _kvm_result[path] = (reason is None, reason or "KVM works")
            log.info("KVM %s: %s", "usable" if reason is None else "unusable",
                     reason or "probe guest ran")
        return _kvm_result[path]


def resolve_accel(requested: str, binary: str | None = None) -> str:
    """"kvm" or "tcg" for a params ``accel`` value ("auto" probes KVM)."""
    if requested in ("kvm", "tcg"):
        return requested
    if requested != "auto":
        raise ValueError(f"accel must be auto, kvm or tcg (got {requested!r})")
    return "kvm" if kvm_usable(binary)[0] else "tcg"


class QemuCapabilities(TypedDict):
    """What the installed QEMU offers (:func:`qemu_capabilities`)."""

    binary: str | None  # absolute path, None when not installed
    version: str | None  # "10.0.2"
    version_tuple: tuple[int, ...] | None
    dbus_display: bool  # ``-display help`` lists dbus: ui-dbus is installed
    shm_scanout: bool  # version >= 9.2: Listener.Unix.Map
    sandbox: bool  # -sandbox with every deny (command.SANDBOX) starts: VMs run confined
    sandbox_error: str | None  # why not, one line
    error: str | None  # why binary or version is None


@lru_cache(maxsize=8)
def qemu_capabilities(binary: str | None = None) -> QemuCapabilities:
    """What the installed QEMU offers, for ``geos doctor`` and start-up checks."""
    caps = QemuCapabilities(binary=find_binary(binary), version=None, version_tuple=None,
                            dbus_display=False, shm_scanout=False, sandbox=False, sandbox_error=None,
                            error=None)
    path = caps["binary"]
    if path is None:
        caps["error"] = f"{binary or DEFAULT_BINARY} is not installed (install qemu-system-x86)"
        return caps
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
        match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", out)
        if match:
            version = tuple(int(x or 0) for x in match.groups())
            caps["version_tuple"] = version
            caps["version"] = ".".join(str(x) for x in version)
        displays = subprocess.run([path, "-display", "help"], capture_output=True,
                                  text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        caps["error"] = f"{path}: {exc}"
        return caps
    caps["dbus_display"] = any(line.strip() == "dbus" for line in displays.splitlines())
    found = caps["version_tuple"]
    caps["shm_scanout"] = bool(found and found[:2] >= (9, 2))
    caps["sandbox_error"] = sandbox_probe(path)
    caps["sandbox"] = caps["sandbox_error"] is None
    return caps


def sandbox_probe(binary: str) -> str | None:
    """None when ``binary`` starts under ``-sandbox`` :data:`~.command.SANDBOX`, else why not (one line)."""
    argv = [binary, "-machine", "none", "-nodefaults", "-no-user-config", "-display", "none",
            "-qmp", "stdio", "-sandbox", SANDBOX]
    try:
        result = subprocess.run(argv, input=_QMP_QUIT, capture_output=True, timeout=SANDBOX_PROBE_TIMEOUT,
                                check=False)
    except subprocess.TimeoutExpired:
        return f"a QEMU started with -sandbox did not quit within {SANDBOX_PROBE_TIMEOUT:.0f} s"
    except OSError as exc:
        return f"{binary}: {exc.strerror or exc}"
    if result.returncode == 0:
        return None
    line = _first_error_line(result.stderr.decode(errors="replace"))
    return line or f"QEMU exited with status {result.returncode} under -sandbox"

