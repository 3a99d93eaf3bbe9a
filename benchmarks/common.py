"""What every benchmark shares: CPU clocks, percentiles, the machine and its versions, results.

Each benchmark module has ``run(quick: bool) -> dict`` returning a result: a title,
the targets it checks, and tables (``{"columns": [...], "rows": [[...], ...]}``).
Run alone (``python -m benchmarks.upload``), a module prints its tables; run from
:mod:`benchmarks.run`, the results go into docs/performance.md.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geometry_os.plugins.qemu.images import images_dir

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
TINY_ISO = images_dir() / "tiny-linux.iso"  # where tools/dev setup builds the tiny-linux image

log = logging.getLogger("benchmarks")


# ------------------------------------------------------------------ CPU clocks
def process_cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system) a process has used, from /proc (children not included)."""
    fields = Path(f"/proc/{pid or os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(ident: int) -> float:
    """CPU seconds of one thread of this process (``Thread.ident``), to the nanosecond."""
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


def rss_mb(pid: int | None = None) -> float:
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class CpuMeter:
    """CPU used by a set of processes over a wall-clock window."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.cpu0 = [process_cpu(p) for p in self.pids]
        self.t0 = time.monotonic()

    def stop(self) -> tuple[list[float], float]:
        """(CPU seconds per process, wall seconds) since the meter started."""
        wall = time.monotonic() - self.t0
        return [process_cpu(p) - c for p, c in zip(self.pids, self.cpu0, strict=True)], wall


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def pump(seconds: float, step: Callable[[], None] | None = None) -> None:
    """Run pyglet's posted events (frame wakes) and ``step`` for ``seconds``."""
    import pyglet

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pyglet.app.platform_event_loop.dispatch_posted_events()
        if step is not None:
            step()
        time.sleep(0.001)


# ---------------------------------------------------------- machine, versions
def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"CPU": cpu, "cores": str(os.cpu_count()), "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "kernel": platform.release(), "OS": _os_name()}


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)', text, re.MULTILINE)
    return match.group(1) if match else platform.system()


def versions() -> dict[str, str]:
    import pyglet

    out = {"Python": platform.python_version(), "pyglet": pyglet.version, "numpy": np.__version__}
    try:
        import dbus_fast.__version__ as dv

        out["dbus-fast"] = dv.__version__
    except ImportError:
        pass
    qemu = shutil.which("qemu-system-x86_64")
    if qemu:
        first = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
        out["QEMU"] = first[0].replace("QEMU emulator version ", "") if first else "?"
    out.update(gl_info())
    return out


def gl_info() -> dict[str, str]:
    """GL renderer and version of a headless EGL context (in a child: it must not
    fix this process's pyglet mode)."""
    code = ("import pyglet; pyglet.options['headless']=True\n"
            "from geometry_os.window import gl_config\n"
            "w=pyglet.window.Window(64,64,visible=False,config=gl_config(pyglet))\n"
            "from pyglet import gl\n"
            "print(gl.gl_info.get_renderer()); print(gl.gl_info.get_version_string())\n")
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                                check=False)
        renderer, version = result.stdout.strip().splitlines()[:2]
    except (subprocess.SubprocessError, ValueError):
        return {"GL": "unavailable"}
    return {"GL renderer": renderer, "GL version": version}


# --------------------------------------------------------------- result output
def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {"columns": list(columns), "rows": [list(r) for r in rows]}


def markdown_table(t: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(t["columns"]) + " |", "|" + "---|" * len(t["columns"])]
    for row in t["rows"]:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def main(run: Callable[[bool], dict[str, Any]]) -> None:
    """Entry point of a benchmark module run alone: print its tables (and JSON with --json)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    result = run(args.quick)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(f"## {result['title']}\n")
    for name, t in result.get("tables", {}).items():
        print(f"{name}\n\n{markdown_table(t)}\n")
    for note in result.get("notes", []):
        print(f"- {note}")
