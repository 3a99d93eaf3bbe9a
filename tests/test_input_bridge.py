"""The input bridge through the window's own event path, with a fake input source.

Events are dispatched on the (headless) pyglet window exactly as X would deliver
them, so they take the same route as a user's: window -> sinks -> bridge -> source.
Real guests get the same events through a real X server in tests/xvfb/test_vm_input.py.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading

import attrs
import numpy as np
import pytest
from pyglet.window import key, mouse

from geometry_os import api
from geometry_os.plugins.input import BRIDGES, keymap

GUEST_W, GUEST_H = 800, 600


@attrs.define(frozen=True)
class FakeParams:
    absolute: bool = api.setting(True, doc="whether the fake guest has an absolute pointer")


class FakeInputSource(api.FrameSource):
    """A fake VM: one still frame, and a log of every input call the bridge makes."""

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.calls: list[tuple] = []
        self.is_absolute = params.absolute
        self.keyboard_modifiers = 0
        self.capabilities = api.Capabilities(keyboard=self, pointer=self)

    def send_keys(self, events):
        for pressed, qnum in events:
            (self.key_press if pressed else self.key_release)(qnum)
        done = concurrent.futures.Future()
        done.set_result(None)
        return done

    def start(self):
        frame = np.zeros((GUEST_H, GUEST_W, 4), np.uint8)
        self.ctx.mailbox.publish(frame, None)
        self.ctx.report_state(api.TileState.RUNNING)

    def stop(self):
        self.ctx.report_state(api.TileState.STOPPED)

    def key_press(self, qnum):
        self.calls.append(("press", qnum))

    def key_release(self, qnum):
        self.calls.append(("release", qnum))

    def mouse_set_abs(self, x, y):
        self.calls.append(("abs", x, y))

    def mouse_rel(self, dx, dy):
        self.calls.append(("rel", dx, dy))

    def mouse_press(self, button):
        self.calls.append(("button-down", button))

    def mouse_release(self, button):
        self.calls.append(("button-up", button))


class FakeVmPlugin:
    @api.hookimpl
    def register_sources(self):
        return [api.SourceType("fake-vm", FakeParams, FakeInputSource, "a fake VM for input tests")]


SCENE = """
window: {width: 800, height: 600}
camera: {x: 400, y: 300, zoom: 1, fit: false}
tiles:
  - {id: vm, title: VM, position: [0, 0], size: [800, 600], source: {type: fake-vm, absolute: %s}}
  - {id: card, title: Card, position: [1000, 0], size: [320, 240], source: {type: pattern, rate: 0}}
"""


@pytest.fixture
def shell_for(render_scene):
    render_scene.host.register(FakeVmPlugin(), "fake-vm")

    def make(absolute: bool = True):
        shell = render_scene(SCENE % ("true" if absolute else "false"), frames=2)
        return shell, shell.tiles[0].source

    return make


def send(shell, event, *args):
    """Deliver a window event the way the platform does: queued, then dispatched."""
    shell.window.dispatch_event(event, *args)
    shell.window.dispatch_events()


def press(shell, symbol, modifiers=0):
    send(shell, "on_key_press", symbol, modifiers)


def release(shell, symbol, modifiers=0):
    send(shell, "on_key_release", symbol, modifiers)


def click(shell, sx, sy, button=mouse.LEFT):
    """A click at screen (sx, sy), top-left origin as on screen; pyglet wants bottom-left."""
    y = shell.camera.height - 1 - sy
    send(shell, "on_mouse_press", sx, y, button, 0)
    send(shell, "on_mouse_release", sx, y, button, 0)


def q(qcode):
    return keymap.QCODE_TO_QNUM[qcode]


def test_keys_go_to_the_focused_vm_and_never_to_the_map(shell_for):
    shell, vm = shell_for()
    press(shell, key.A)  # map focused: nothing reaches the VM
    release(shell, key.A)
    assert vm.calls == []
    click(shell, 400, 300)  # focuses the tile (first click only focuses)
    assert shell.focused is shell.tiles[0] and vm.calls == []
    camera_before = (shell.camera.x, shell.camera.y, shell.camera.zoom)
    for symbol in (key.LSHIFT, key._1, key.LEFT, key.PLUS):
        press(shell, symbol)
    for symbol in (key.PLUS, key.LEFT, key._1, key.LSHIFT):
        release(shell, symbol)
    assert vm.calls == [("press", q("shift")), ("press", q("1")), ("press", q("left")), ("press", q("equal")),
                        ("release", q("equal")), ("release", q("left")), ("release", q("1")),
                        ("release", q("shift"))]
    assert (shell.camera.x, shell.camera.y, shell.camera.zoom) == camera_before  # no map shortcut ran
    assert shell.focused is shell.tiles[0]  # "1" did not fly anywhere


def test_a_repeated_press_is_sent_once(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    press(shell, key.B)
    press(shell, key.B)  # what a host's auto-repeat could look like
    release(shell, key.B)
    assert vm.calls == [("press", q("b")), ("release", q("b"))]


def test_release_chord_returns_to_the_map_but_ctrl_alt_del_reaches_the_guest(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    press(shell, key.LCTRL)
    press(shell, key.LALT)
    press(shell, key.DELETE)
    release(shell, key.DELETE)
    release(shell, key.LALT)
    release(shell, key.LCTRL)
    assert shell.focused is shell.tiles[0]  # a chord used with another key is not the release
    assert ("press", q("delete")) in vm.calls
    press(shell, key.LCTRL)
    press(shell, key.RALT)
    release(shell, key.RALT)
    assert shell.focused is None
    release(shell, key.LCTRL)  # after focus left: not sent, and nothing stays held
    pressed = [c[1] for c in vm.calls if c[0] == "press"]
    released = [c[1] for c in vm.calls if c[0] == "release"]
    assert sorted(pressed) == sorted(released)


def test_ctrl_alt_end_sends_ctrl_alt_del(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    for symbol in (key.LCTRL, key.LALT, key.END):
        press(shell, symbol)
    assert vm.calls == [("press", q("ctrl")), ("press", q("alt")), ("press", q("delete"))]


def test_keys_held_when_focus_leaves_are_released(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    press(shell, key.W)
    press(shell, key.LSHIFT)
    click(shell, 1, 1)  # still over the tile image: a click in the VM
    shell.camera.set(2000, 2000, 1)  # pan away: empty map under the pointer
    click(shell, 400, 300)
    assert shell.focused is None
    assert vm.calls[-2:] in ([("release", q("w")), ("release", q("shift"))],
                             [("release", q("shift")), ("release", q("w"))])
    release(shell, key.W)
    release(shell, key.LSHIFT)
    assert sum(c[0] == "release" for c in vm.calls) == 2  # nothing released twice


@pytest.mark.parametrize("zoom", [1.0, 0.5])
def test_clicks_map_through_the_camera_to_guest_pixels(shell_for, zoom):
    shell, vm = shell_for()
    shell.camera.set(400, 300, zoom)  # the guest image centred, drawn at `zoom`
    sx, sy = shell.camera.world_to_screen(0, 0)
    click(shell, sx + 10, sy + 10)  # focus
    vm.calls.clear()
    for gx, gy in ((100, 50), (799, 599), (400, 300), (0, 0)):
        sx, sy = (int(v) for v in shell.camera.world_to_screen(gx + 0.5, gy + 0.5))  # the window pixel
        wx, wy = shell.camera.screen_to_world(sx + 0.5, sy + 0.5)  # ...whose centre the user points at
        expected = (int(wx), int(wy))  # world units are guest pixels: the image is 800x600 at 800x600
        assert abs(expected[0] - gx) <= 1 / zoom and abs(expected[1] - gy) <= 1 / zoom
        send(shell, "on_mouse_press", sx, shell.camera.height - 1 - sy, mouse.RIGHT, 0)
        send(shell, "on_mouse_release", sx, shell.camera.height - 1 - sy, mouse.RIGHT, 0)
        assert vm.calls[-3:] == [("abs", *expected), ("button-down", 2), ("button-up", 2)]


def test_pointer_outside_the_guest_is_not_sent_and_wheel_zooms_only_the_map(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    vm.calls.clear()
    shell.camera.set(400, 300, 0.5)  # the guest now covers the middle of the window only
    zoom = shell.camera.zoom
    send(shell, "on_mouse_motion", 5, 5, 0, 0)  # outside the guest
    assert vm.calls == []
    send(shell, "on_mouse_scroll", 400, 300, 0, 2)  # over the guest: its wheel
    send(shell, "on_mouse_scroll", 400, 300, -1, 0)
    assert vm.calls == [("button-down", 3), ("button-up", 3)] * 2 + [("button-down", 7), ("button-up", 7)]
    assert shell.camera.zoom == zoom  # a focused tile keeps the wheel from the map


def test_relative_guest_grabs_the_pointer_and_scales_motion(shell_for):
    shell, vm = shell_for(absolute=False)
    click(shell, 400, 300)  # focus
    click(shell, 400, 300)  # into the VM: grab
    bridge = BRIDGES[shell]
    assert bridge.grabbed and "return to the map" in bridge.hint()
    shell.camera.set(400, 300, 0.5)  # one screen pixel = two guest pixels
    send(shell, "on_mouse_motion", 400, 300, 3, -4)
    assert vm.calls[-1] == ("rel", 6, 8)  # y flipped to screen-down
    press(shell, key.LCTRL)
    press(shell, key.LALT)
    release(shell, key.LALT)
    assert not bridge.grabbed and shell.focused is None


def test_lock_keys_follow_the_host(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    vm.keyboard_modifiers = 0  # guest: Caps off
    press(shell, key.A, key.MOD_CAPSLOCK)  # host: Caps on
    assert vm.calls[:3] == [("press", q("caps_lock")), ("release", q("caps_lock")), ("press", q("a"))]


def test_map_tiles_without_input_keep_the_keyboard_for_the_map(shell_for):
    shell, vm = shell_for()
    shell.fly_to_tile(1)  # the pattern card: no VM behind it
    assert shell.focused is shell.tiles[1]
    shell.camera.set(0, 0, 1)
    press(shell, key.RIGHT)  # the map's arrow-key pan
    assert shell.camera.x != 0
    assert vm.calls == []


def test_a_key_released_under_another_name_is_still_released(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    press(shell, key.LSHIFT)
    press(shell, key.EXCLAMATION, key.MOD_SHIFT)  # X11: Shift+1 arrives as "!"
    release(shell, key.LSHIFT)
    release(shell, key._1)  # ...and leaves as "1" once Shift is up
    assert vm.calls == [("press", q("shift")), ("press", q("1")), ("release", q("shift")), ("release", q("1"))]


def test_geos_type_and_keys_reach_the_vm_through_the_control_socket(shell_for, render_scene):
    shell, vm = shell_for()
    answers: list[object] = []

    def ask(message):  # the client blocks until the shell answered: not on the main loop
        try:
            answers.append(api.control_request(message, pid=os.getpid(), timeout=20))
        except api.ControlError as exc:
            answers.append(exc)

    for message in ({"op": "type", "tile": "vm", "text": "Hi\n"}, {"op": "keys", "tile": "VM", "combo": "ctrl-alt-del"},
                    {"op": "type", "tile": "card", "text": "x"}, {"op": "type", "tile": "vm", "text": "\u00e9"},
                    {"op": "tiles"}):
        thread = threading.Thread(target=ask, args=(message,))
        thread.start()
        api.wait_until(lambda t=thread: not t.is_alive(), timeout=20, step=lambda: render_scene.frames(shell, 1),
                       what=f"the answer to {message['op']}")
    assert answers[:2] == [{"ok": True}, {"ok": True}]
    assert vm.calls == [("press", q("shift")), ("press", q("h")), ("release", q("h")), ("release", q("shift")),
                        ("press", q("i")), ("release", q("i")), ("press", q("ret")), ("release", q("ret")),
                        ("press", q("ctrl")), ("press", q("alt")), ("press", q("delete")),
                        ("release", q("delete")), ("release", q("alt")), ("release", q("ctrl"))]
    assert str(answers[2]) == "tile card does not take keyboard input"
    assert "cannot type" in str(answers[3]) or "\u00e9" in str(answers[3])
    listing = answers[4]
    assert [t["name"] for t in listing["tiles"]] == ["vm", "card"]
    assert listing["tiles"][0]["position"] == [0, 0] and listing["tiles"][0]["size"] == [800, 600]


def test_a_stopped_vm_gives_the_keyboard_back_to_the_map(shell_for, render_scene):
    shell, vm = shell_for()
    click(shell, 400, 300)
    assert shell.focused is shell.tiles[0]
    vm.stop()  # the guest powered off: tile_state_changed runs on the main loop
    api.wait_until(lambda: shell.focused is None, timeout=5, step=lambda: render_scene.frames(shell, 1),
               what="the map to take the keyboard back")
    press(shell, key.A)
    assert vm.calls == []


def test_a_shifted_key_released_unshifted_can_be_pressed_again(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    for _ in range(2):  # ">" twice, each time Shift let go before the key, as xdotool does
        press(shell, key.LSHIFT)
        press(shell, key.GREATER, key.MOD_SHIFT)
        release(shell, key.LSHIFT)
        release(shell, key.PERIOD)
    assert vm.calls == [("press", q("shift")), ("press", q("dot")), ("release", q("shift")),
                        ("release", q("dot"))] * 2


def test_keys_held_when_the_shell_closes_are_released_in_the_vm(shell_for):
    shell, vm = shell_for()
    click(shell, 400, 300)
    press(shell, key.LSHIFT)
    shell.host.scene_closing(shell, shell.scene)  # what shutdown does first
    assert vm.calls == [("press", q("shift")), ("release", q("shift"))]


def test_pointer_mapping_works_with_the_tile_renderer_blocked(tmp_path):
    """The engine owns each tile's texture and frame size: input into VMs needs no renderer."""
    from geometry_os.plugin_host import PluginHost
    from geometry_os.testing import SceneRunner

    host = PluginHost(blocked={"tiles"})
    host.load_builtins()
    host.register(FakeVmPlugin(), "fake-vm")
    runner = SceneRunner(host, tmp_path)
    try:
        shell = runner(SCENE % "true", frames=2)
        vm = shell.tiles[0].source
        assert shell.tiles[0].frame_size == (GUEST_W, GUEST_H) and shell.tiles[0].texture is not None
        press(shell, key._1)  # no picker to click with: the map's fly-to focuses tile 1
        release(shell, key._1)
        runner.frames(shell, 40)  # the camera flies to the tile
        sx, sy = shell.camera.world_to_screen(400, 300)  # the guest's centre, wherever the camera went
        send(shell, "on_mouse_motion", round(sx), round(shell.camera.height - 1 - sy), 0, 0)
        assert vm.calls[-1][0] == "abs" and abs(vm.calls[-1][1] - 400) <= 2 and abs(vm.calls[-1][2] - 300) <= 2
    finally:
        runner.close()
