"""The public plugin API and the architecture rules it rests on."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from geometry_os import api, hookspecs
from geometry_os.docgen import hook_functions
from geometry_os.plugin_host import ESSENTIAL_PLUGINS, PluginError, PluginHost
from geometry_os.shell import Shell
from geometry_os.view import ShellView
from tests.conftest import ROOT


def _protocol_members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")} | set(protocol.__annotations__)


def test_the_shell_implements_every_member_of_the_shell_view():
    missing = sorted(name for name in _protocol_members(ShellView) if not hasattr(Shell, name))
    assert missing == []


def test_every_hook_is_documented_implemented_by_a_built_in_and_tested(host):
    tests = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "tests").rglob("test_*.py"))
    for name, function in hook_functions():
        assert inspect.getdoc(function), f"hook {name} has no docstring"
        for parameter in inspect.signature(function).parameters:
            assert f"``{parameter}``" in function.__doc__, f"hook {name}: parameter {parameter} is not documented"
        implementers = [impl.plugin_name for impl in getattr(host.pm.hook, name).get_hookimpls()]
        assert implementers, f"no built-in plugin implements hook {name}"
        assert name in tests, f"no test names hook {name}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_engine_never_imports_the_plugins():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if m.startswith("geometry_os.plugins"))
                 for path in (ROOT / "engine").rglob("*.py")}
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_nothing_imports_the_folder_names_as_top_level_packages():
    folders = ("engine", "plugins", "tests", "benchmarks", "docs")
    offenders = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            bad = sorted(m for m in _imports(path) if m.split(".")[0] in ("engine", "plugins"))
            if bad:
                offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_example_plugin_uses_only_the_public_api():
    example = ROOT / "docs" / "examples" / "geos-tint" / "geos_tint" / "__init__.py"
    assert {m for m in _imports(example) if m.startswith("geometry_os")} == {"geometry_os"}
    assert "from geometry_os import api" in example.read_text(encoding="utf-8")


def test_the_api_exports_what_plugin_authors_need():
    for name in ("hookimpl", "setting", "SourceType", "EffectType", "LayerType", "InputSinkType", "CommandType",
                 "CheckType", "ControlOp", "FrameSource", "TileContext", "TileState", "Capabilities", "Keyboard",
                 "Pointer", "Lifecycle", "Telemetry", "CursorImage", "ShellView", "KeyPacer", "Rect",
                 "assert_image_close", "wait_until", "control_request", "EXIT_INVALID"):
        assert name in api.__all__ and hasattr(api, name), name
    assert api.hookimpl.project_name == hookspecs.PROJECT


def test_essential_plugins_cannot_be_blocked_and_others_can():
    with pytest.raises(PluginError, match="plugin map is essential"):
        PluginHost(blocked={"map", "hud"})
    host = PluginHost(blocked={"tiles", "input", "qemu"})
    host.load_builtins()
    assert {host.infos[name].status for name in ("tiles", "input", "qemu")} == {"blocked"}
    assert ESSENTIAL_PLUGINS == {"map"}
    result = subprocess.run([sys.executable, "-m", "geometry_os", "plugins", "--block", "map"],
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "geos: plugin map is essential and cannot be blocked (essential: map)\n"
