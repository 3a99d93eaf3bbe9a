"""No QEMU outlives the shell: normal exit, Ctrl+C, SIGTERM, SIGKILL (PDEATHSIG)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geometry_os.plugins.qemu import registry
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu

ROOT = Path(__file__).resolve().parents[2]

SHELL = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from geometry_os.tiles import TileContext, TileState
    from geometry_os.plugins import qemu
    from geometry_os.plugins.qemu.params import QemuParams
    from geometry_os.plugins.qemu.source import QemuSource

    qemu.scene_loaded(shell=None, scene=None)  # what the shell does once its map is up
    tmp = Path(sys.argv[2])
    ctx = TileContext(name="vm", title="vm", scene_dir=tmp, runtime_dir=tmp / "run")
    source = QemuSource(ctx, QemuParams(iso=sys.argv[3], memory=64))
    source.start()
    deadline = time.monotonic() + 20
    while ctx.state is not TileState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.01)
    print(source.pid, flush=True)
    if sys.argv[1] == "exit":
        sys.stdin.readline()  # the test says when: QEMU must be seen alive first
    else:
        while True:
            time.sleep(0.05)
""")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of the killed shell's child is reaped by init; treat it as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


@pytest.mark.parametrize("how", ["exit", "SIGINT", "SIGTERM", "SIGKILL"])
def test_no_qemu_survives_the_shell(tmp_path, memtest_iso, wait_for, how):
    script = tmp_path / "shell.py"
    script.write_text(SHELL)
    shell = subprocess.Popen([sys.executable, str(script), how, str(tmp_path), str(memtest_iso)],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = shell.stdout.readline().decode().strip()
        assert line.isdigit(), shell.stderr.read().decode()[-2000:]
        qemu_pid = int(line)
        assert not gone(qemu_pid)
        if how == "exit":
            shell.stdin.write(b"\n")
            shell.stdin.flush()
        else:
            shell.send_signal(getattr(signal, how))
        shell.wait(10)
        wait_for(lambda: gone(qemu_pid), timeout=3, what=f"QEMU gone after {how}")
    finally:
        shell.kill()
        shell.wait()
        shell.stdin.close()
        shell.stdout.close()
        shell.stderr.close()


def test_kill_all_kills_registered_qemus(sources, make_ctx, memtest_iso, wait_for):
    ctx = make_ctx("k")
    source = QemuSource(ctx, QemuParams(iso=str(memtest_iso), memory=64))
    sources.append(source)
    source.start()
    wait_for(lambda: ctx.state is TileState.RUNNING, what="RUNNING")
    pid = source.pid
    assert registry.live().get(pid) == "k"
    assert registry.kill_all() >= 1
    wait_for(lambda: ctx.state is TileState.FAILED, timeout=2, what="FAILED")
    assert pid not in registry.live()
