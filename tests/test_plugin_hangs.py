"""A plugin that hangs in a hook or in a layer's draw is interrupted, named and disabled."""

from __future__ import annotations

import time

import engine
from engine.registry import LayerType
from engine.watchdog import HANG_SECONDS


class HangingPlugin:
    """Loops forever in scene_loaded, sleeps forever in its layer's draw."""

    def __init__(self) -> None:
        self.draws = 0

    @engine.hookimpl
    def scene_loaded(self, shell, scene):
        while True:  # a busy loop: interrupted between bytecodes
            pass

    @engine.hookimpl
    def register_layers(self):
        plugin = self

        class Sleeper:
            def __init__(self, shell):
                pass

            def draw(self):
                plugin.draws += 1
                time.sleep(3600)  # a blocking call: cut short by the signal

        return [LayerType("sleeper", order=50, factory=Sleeper)]


class Recorder:
    def __init__(self) -> None:
        self.loaded = False

    @engine.hookimpl
    def scene_loaded(self, shell, scene):
        self.loaded = True


SCENE = """
window: {width: 320, height: 240}
tiles:
  - {title: T, position: [0, 0], size: [320, 240], source: {type: pattern, rate: 0}}
"""


def test_hanging_hook_and_layer_are_interrupted_and_the_plugin_disabled(render_scene, caplog):
    hanging, recorder = HangingPlugin(), Recorder()
    render_scene.host.register(hanging, "hanging")
    render_scene.host.register(recorder, "recorder")
    started = time.monotonic()
    shell = render_scene(SCENE, frames=3)  # scene_loaded hangs once, then draw hangs per frame
    elapsed = time.monotonic() - started
    info = render_scene.host.infos["hanging"]
    assert info.status == "failed" and "did not return within" in info.error
    assert recorder.loaded  # the other plugin's hook still ran
    assert hanging.draws == 2  # hook + two draws = three failures: disabled, not drawn again
    assert elapsed < 4 * HANG_SECONDS
    started = time.monotonic()
    render_scene.frames(shell, 2)  # the map keeps running without it
    assert hanging.draws == 2 and time.monotonic() - started < HANG_SECONDS
    assert any("plugin hanging: scene_loaded still running" in r.getMessage() for r in caplog.records)
