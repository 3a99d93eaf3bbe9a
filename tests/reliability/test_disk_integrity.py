"""Nothing lost: a guest that writes its disks never changes the images unless persistent.

The tiny Linux guest (guests/tiny-linux) has no block driver in its initramfs, so its
fw_cfg job loads Debian's ``virtio_blk.ko`` handed over through a second fw_cfg file
(same kernel), then writes a marker at the start of /dev/vda (raw) and /dev/vdb
(qcow2) and reads it back.  The same job against ``persistent: true`` proves the
writes are real: there the images change, and the stop went through ACPI power-down
before ``quit``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from geometry_os.plugins.qemu import session as session_mod
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu

MARKER = "GUEST-WROTE-THIS"
JOB = f"""
modprobe virtio_pci
cat /sys/firmware/qemu_fw_cfg/by_name/opt/geos/virtio_blk/raw >/tmp/virtio_blk.ko
insmod /tmp/virtio_blk.ko
n=0; while [ ! -b /dev/vdb ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
for d in vda vdb; do printf {MARKER} | dd of=/dev/$d bs=512 conv=notrunc 2>/dev/null; done
sync
echo GEOS-DISKS $(head -c 16 /dev/vda) $(head -c 16 /dev/vdb)
"""


def virtio_blk_module() -> Path:
    """The host's newest kernel's virtio_blk.ko: the kernel guests/tiny-linux/build.sh packs."""
    found = sorted(Path("/lib/modules").glob("*/kernel/drivers/block/virtio_blk.ko"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[3].replace("-", ".").split(".")])
    if not found:
        pytest.skip("no virtio_blk.ko under /lib/modules (apt install linux-image-amd64)")
    return found[-1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        pytest.skip("qemu-img is not installed")
    raw = tmp_path / "base.img"
    raw.write_bytes(os.urandom(1 << 20))
    qcow = tmp_path / "base.qcow2"
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", str(qcow), "1M"], check=True)
    return raw, qcow


def run_job(sources, make_ctx, iso: Path, images, wait_for, persistent: bool) -> tuple[QemuSource, str]:
    raw, qcow = images
    job = raw.parent / "job.sh"
    job.write_text(JOB)
    ctx = make_ctx("disk")
    source = QemuSource(ctx, QemuParams(
        iso=str(iso), disk=[raw.name, qcow.name], persistent=persistent, memory=128, accel="tcg",
        tablet=False, extra_args=["-fw_cfg", f"name=opt/geos/run,file={job}",
                                  "-fw_cfg", f"name=opt/geos/virtio_blk,file={virtio_blk_module()}"]))
    sources.append(source)
    source.start()
    serial = ctx.runtime_dir / "serial.log"

    def job_line() -> str | None:  # the line may follow the shell's prompt on the same port
        text = serial.read_text(errors="replace") if serial.exists() else ""
        start = text.find("GEOS-DISKS")
        return text[start:].splitlines()[0] if start >= 0 and "\n" in text[start:] else None

    line = wait_for(job_line, timeout=60, interval=0.2, what="the guest's disk job")
    # running (a "not responding" badge on a starved host clears by itself)
    wait_for(lambda: ctx.state is TileState.RUNNING, timeout=30, what="RUNNING")
    return source, line


def test_base_images_are_byte_identical_after_the_guest_wrote_them(sources, make_ctx, tiny_linux_iso,
                                                                   images, wait_for):
    before = [sha256(p) for p in images]
    source, line = run_job(sources, make_ctx, tiny_linux_iso, images, wait_for, persistent=False)
    assert line == f"GEOS-DISKS {MARKER} {MARKER}"  # the guest saw its own writes
    source.stop()
    assert [sha256(p) for p in images] == before
    assert MARKER.encode() not in images[0].read_bytes()[:512]


def test_persistent_disks_are_written_and_stopped_through_acpi(sources, make_ctx, tiny_linux_iso,
                                                               images, wait_for, monkeypatch):
    monkeypatch.setattr(session_mod, "POWERDOWN_TIMEOUT", 1.0)  # busybox init ignores the button
    before = [sha256(p) for p in images]
    source, line = run_job(sources, make_ctx, tiny_linux_iso, images, wait_for, persistent=True)
    assert line == f"GEOS-DISKS {MARKER} {MARKER}"
    monitor = source.session.monitor
    commands: list[str] = []
    execute = monitor.execute

    async def recording(cmd, *args, **kwargs):
        commands.append(cmd)
        return await execute(cmd, *args, **kwargs)

    monitor.execute = recording
    source.stop()
    assert [c for c in commands if c in ("system_powerdown", "quit")] == ["system_powerdown", "quit"]
    assert images[0].read_bytes()[:len(MARKER)] == MARKER.encode()
    assert [sha256(p) for p in images] != before
