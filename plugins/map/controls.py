"""Camera controls: the lowest-priority input sink, so a focused VM sees keys first.

Mouse: drag with the right or middle button to pan; wheel zooms about the cursor.
Keys: arrows pan, +/- (or PageUp/PageDown) zoom about the centre, 0 or Home fits
all tiles, 1-9 fly to tile N, F11 toggles fullscreen, H toggles the HUD,
Ctrl+Q quits.  (docs/controls.md lists them all.)
"""

from __future__ import annotations

from pyglet.window import key, mouse

from geometry_os import api

PAN_STEP = 120  # screen pixels per arrow-key press
ZOOM_STEP = 1.25  # per wheel notch or key press
PAN_BUTTONS = mouse.RIGHT | mouse.MIDDLE


class CameraControls:
    def __init__(self, shell: api.ShellView) -> None:
        self.shell = shell

    def on_mouse_drag(self, sx: float, sy: float, dx: float, dy: float, buttons: int, modifiers: int) -> bool:
        if buttons & PAN_BUTTONS:
            self.shell.camera.pan_pixels(dx, dy)
            return True
        return False

    def on_mouse_scroll(self, sx: float, sy: float, scroll_x: float, scroll_y: float) -> bool:
        if scroll_y:
            self.shell.camera.zoom_about(ZOOM_STEP ** scroll_y, sx, sy)
            return True
        return False

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        shell, camera = self.shell, self.shell.camera
        centre = (camera.width / 2, camera.height / 2)
        pans = {key.LEFT: (PAN_STEP, 0), key.RIGHT: (-PAN_STEP, 0), key.UP: (0, PAN_STEP), key.DOWN: (0, -PAN_STEP)}
        if symbol in pans:
            camera.pan_pixels(*pans[symbol])
        elif symbol in (key.PLUS, key.EQUAL, key.NUM_ADD, key.PAGEUP):
            camera.zoom_about(ZOOM_STEP, *centre)
        elif symbol in (key.MINUS, key.NUM_SUBTRACT, key.PAGEDOWN):
            camera.zoom_about(1 / ZOOM_STEP, *centre)
        elif symbol in (key._0, key.HOME):
            shell.fit_all()
        elif key._1 <= symbol <= key._9:
            shell.fly_to_tile(symbol - key._1)
        elif symbol == key.F11:
            shell.toggle_fullscreen()
        elif symbol == key.H:
            shell.hud_visible = not shell.hud_visible
        elif symbol == key.Q and modifiers & key.MOD_CTRL:
            shell.quit()
        else:
            return False
        return True
