"""A plugin that hangs in a hook is interrupted, named, and the map goes on."""

from __future__ import annotations

import time

import geometry_os
from geometry_os.watchdog import HANG_SECONDS


class HangingPlugin:
    @geometry_os.hookimpl
    def scene_loaded(self, shell, scene):
        while True:  # a busy loop: interrupted between bytecodes
            pass

    @geometry_os.hookimpl
    def scene_closing(self, shell, scene):
        time.sleep(3600)  # a blocking call: cut short by the signal


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @geometry_os.hookimpl
    def scene_loaded(self, shell, scene):
        self.calls.append("loaded")

    @geometry_os.hookimpl
    def scene_closing(self, shell, scene):
        self.calls.append("closing")


SCENE = """
window: {width: 320, height: 240}
tiles:
  - {title: T, position: [0, 0], size: [320, 240], source: {type: pattern, rate: 0}}
"""


def test_hanging_hooks_are_interrupted_and_named(render_scene, caplog):
    recorder = Recorder()
    render_scene.host.register(HangingPlugin(), "hanging")
    render_scene.host.register(recorder, "recorder")
    started = time.monotonic()
    shell = render_scene(SCENE, frames=2)
    assert time.monotonic() - started < 2 * HANG_SECONDS
    info = render_scene.host.infos["hanging"]
    assert info.failures == 1 and info.status == "active"
    assert recorder.calls == ["loaded"]  # the other plugin's hook still ran
    assert any("plugin hanging: scene_loaded still running" in r.getMessage() for r in caplog.records)
    assert any("PluginHang: scene_loaded did not return within" in r.getMessage() for r in caplog.records)
    started = time.monotonic()
    render_scene.shells.remove(shell)  # shut down here, not again by the fixture
    shell.shutdown()  # scene_closing sleeps: cut short too, and every tile still stops
    shell.window.close()
    assert time.monotonic() - started < 2 * HANG_SECONDS
    assert recorder.calls == ["loaded", "closing"] and info.failures == 2
    assert shell.tiles[0].ctx.state.value == "stopped"
