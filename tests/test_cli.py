"""The geos command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import geometry_os
from geometry_os.docgen import hook_functions
from tests.conftest import ROOT

SCENES = sorted((ROOT / "scenes").glob("*.yaml"))


def geos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geometry_os", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_version():
    result = geos("--version")
    assert result.returncode == 0 and result.stdout.startswith("geos 0.")


@pytest.mark.parametrize("scene", SCENES, ids=[p.name for p in SCENES])
def test_every_shipped_scene_checks(scene):
    result = geos("check", str(scene))
    assert (result.returncode, result.stderr) == (0, "")


def test_bad_scene_exits_2_with_file_line_errors_and_no_traceback(write_scene):
    path = write_scene("window:\n  widht: 1\n  fps: 1000\n")
    result = geos("check", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{path}:2: window.widht: unknown field; did you mean 'width'?",
                                          f"{path}:3: window.fps: must be <= 144 (got 1000)"]
    run = geos("run", str(path), "--headless", "--frames", "1")
    assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.count("\n") == 2


def test_plugins_lists_builtins_and_env_blocking():
    listed = geos("plugins")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].split() == ["name", "version", "status", "origin", "hooks"]
    names = {line.split()[0]: line.split()[2] for line in listed.stdout.splitlines()[1:] if "built-in" in line}
    assert names["pattern"] == "active"
    blocked = geos("plugins", env={"GEOS_BLOCK_PLUGINS": "pattern"})
    assert any(line.split()[:3] == ["pattern", geometry_os.__version__, "blocked"]
               for line in blocked.stdout.splitlines())


def test_every_hook_is_documented():
    hooks = hook_functions()
    assert len(hooks) >= 8
    undocumented = [name for name, fn in hooks if not (fn.__doc__ or "").strip()]
    assert undocumented == []


def test_generated_docs_are_current():
    result = geos("docs", "--check")
    assert (result.returncode, result.stderr) == (0, "")
    assert Path(ROOT / "docs" / "plugin-hooks.md").read_text().count("\n## ") == len(hook_functions())


def doctor_lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """``geos doctor``'s output as label -> status (ok, warn, FAIL)."""
    return {line[6:].split(":")[0]: line[:4].strip() for line in result.stdout.splitlines()}


@pytest.mark.qemu  # needs QEMU installed (boots nothing)
def test_doctor_reports_qemu_and_gl():
    result = geos("doctor")
    lines = doctor_lines(result)
    assert {"QEMU", "D-Bus display (ui-dbus)", "KVM", "OpenGL"} <= set(lines) and lines["QEMU"] == "ok"
    assert result.returncode == (1 if "FAIL" in lines.values() else 0)


def test_doctor_without_qemu_says_how_to_install_it(tmp_path):
    result = geos("doctor", env={"PATH": str(tmp_path)})  # no qemu-system-x86_64 to be found
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "FAIL  QEMU: qemu-system-x86_64 is not installed (install qemu-system-x86)" in result.stdout.splitlines()
    assert "OpenGL" in doctor_lines(result)


def test_plugin_commands_join_the_cli(tmp_path):
    (tmp_path / "greeter.py").write_text(
        "import geometry_os, sys\n"
        "from geometry_os.registry import CommandType\n"
        "def configure(parser):\n"
        "    parser.add_argument('who')\n"
        "def run(args, host):\n"
        "    sys.stdout.write(f'hello {args.who} from {len(host.infos)} plugins\\n')\n"
        "    return 3\n"
        "@geometry_os.hookimpl\n"
        "def register_commands():\n"
        "    return [CommandType('greet', 'say hello', configure, run),\n"
        "            CommandType('check', 'shadows a built-in', configure, run)]\n")
    result = geos("--plugins-dir", str(tmp_path), "greet", "you")
    assert result.returncode == 3
    assert result.stdout.startswith("hello you from ")
    assert "command 'check' shadows a built-in command" in result.stderr
    assert "greet" in geos("--plugins-dir", str(tmp_path), "--help").stdout


def test_without_a_display_geos_run_says_so_in_one_line_and_other_commands_need_none(write_scene):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    result = geos("run", env=env)
    assert result.returncode == 2
    assert result.stderr == ("geos: cannot open a window: no display is set (DISPLAY is empty); run it in a desktop "
                             "session, or use 'geos run --headless' to render offscreen\n")
    for args in (("--help",), ("plugins",), ("check", str(write_scene("tiles: []\n"))), ("run", "--help")):
        other = geos(*args, env=env)
        assert other.returncode == 0, (args, other.stderr)
        assert "failed" not in other.stdout + other.stderr and "Traceback" not in other.stderr, args
    headless = geos("run", "--headless", "--frames", "2", str(write_scene("tiles: []\n", "empty.yaml")), env=env)
    assert (headless.returncode, headless.stderr) == (0, "")
