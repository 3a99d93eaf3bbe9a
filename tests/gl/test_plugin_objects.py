"""A third-party plugin's objects, through the public API only: a layer that draws, an input
sink that takes keys before the map, a control operation, options from the scene, a doctor check."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import ClassVar

import attrs
import pytest
from pyglet import gl
from pyglet.window import key

from geometry_os import api

SCENE = """
window: {width: 320, height: 240}
camera: {x: 160, y: 120, zoom: 1, fit: false}
tiles: []
plugins:
  options:
    marker: {size: SIZE}
"""


@attrs.define(frozen=True)
class MarkerOptions:
    size: int = api.setting(20, doc="Side of the marker square in screen pixels.", min=1, max=200)


class MarkerLayer:
    """Fills a square at the window's top-left corner with pure green."""

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell
        options = shell.plugin_options("marker")
        self.size = options.size if options is not None else MarkerOptions().size

    def draw(self) -> None:
        height = self.shell.camera.height
        gl.glEnable(gl.GL_SCISSOR_TEST)
        gl.glScissor(0, height - self.size, self.size, self.size)
        gl.glClearColor(0.0, 1.0, 0.0, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        gl.glDisable(gl.GL_SCISSOR_TEST)


class KeyRecorder:
    keys: ClassVar[list[int]] = []  # what every recorder saw (the shell makes the instance)

    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        self.keys.append(symbol)
        return symbol == key.M  # M is ours; everything else goes on to the map


def _echo(shell: api.ShellView, request: dict[str, object]) -> dict[str, object]:
    return {"ok": True, "echo": request.get("text"), "tiles": len(shell.tiles)}


class MarkerPlugin:
    @api.hookimpl
    def plugin_options(self) -> type:
        return MarkerOptions

    @api.hookimpl
    def register_layers(self) -> list[api.LayerType]:
        return [api.LayerType("marker", order=50, factory=MarkerLayer)]

    @api.hookimpl
    def register_input_sinks(self) -> list[api.InputSinkType]:
        return [api.InputSinkType("key-recorder", priority=10, factory=KeyRecorder)]

    @api.hookimpl
    def register_control_ops(self) -> list[api.ControlOp]:
        return [api.ControlOp("echo", "answer with the request's text", _echo)]


@pytest.fixture
def marker(render_scene):
    render_scene.host.register(MarkerPlugin(), "marker")
    KeyRecorder.keys = []
    return render_scene


def test_a_registered_layer_draws_with_the_scenes_plugin_options(marker):
    shell = marker(SCENE.replace("SIZE", "30"), frames=2)
    image = shell.screenshot()
    assert tuple(image[0, 0, :3]) == (0, 255, 0) and tuple(image[29, 29, :3]) == (0, 255, 0)
    assert tuple(image[31, 31, :3]) != (0, 255, 0)  # 30 pixels, as the scene says


def test_a_registered_sink_sees_keys_before_the_camera(marker):
    shell = marker(SCENE.replace("SIZE", "10"), frames=1)
    x = shell.camera.x
    for symbol in (key.M, key.LEFT):
        shell.window.dispatch_event("on_key_press", symbol, 0)
        shell.window.dispatch_events()
    assert KeyRecorder.keys == [key.M, key.LEFT]
    assert shell.camera.x != x  # LEFT was not consumed: the camera panned


def test_a_registered_control_op_answers_over_the_socket(marker):
    shell = marker(SCENE.replace("SIZE", "10"), frames=1)
    answers: list[object] = []
    thread = threading.Thread(target=lambda: answers.append(
        api.control_request({"op": "echo", "text": "hi"}, pid=os.getpid(), timeout=20)))
    thread.start()
    api.wait_until(lambda: not thread.is_alive(), timeout=20, step=lambda: marker.frames(shell, 1),
                   what="the echo answer")
    assert answers == [{"ok": True, "echo": "hi", "tiles": 0}]


def test_a_registered_doctor_check_is_reported(tmp_path):
    (tmp_path / "checker.py").write_text(
        "from geometry_os import api\n"
        "@api.hookimpl\n"
        "def register_checks():\n"
        "    return [api.CheckType('disk', lambda: [api.CheckResult('warn', 'scratch disk', 'nearly full')])]\n",
        encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "geometry_os", "doctor", "--plugins-dir", str(tmp_path),
                             "--block", "qemu"], capture_output=True, text=True, timeout=60)
    assert "warn  scratch disk: nearly full" in result.stdout.splitlines()
