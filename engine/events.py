"""pyglet event plumbing: the dispatcher that wakes the main loop from other threads,
and the bridge from window events to the shell's input sinks.

Sinks see *screen* coordinates (top-left origin, y down — the camera's convention),
not pyglet's bottom-left ones, so hit-testing uses the same math as drawing.
"""

from __future__ import annotations

from typing import Any

import pyglet


class ShellEvents(pyglet.event.EventDispatcher):
    """Events posted with ``platform_event_loop.post_event`` from source threads."""


ShellEvents.register_event_type("on_frames_ready")
ShellEvents.register_event_type("on_state_change")
ShellEvents.register_event_type("on_call")


def forget_stale_presses(window: Any, released: int) -> None:
    """Work around pyglet's X11 auto-repeat filter losing key presses.

    pyglet remembers pressed keys by *keysym* and drops a press of a keysym it thinks
    is still down.  A key pressed with Shift and released after Shift (">" pressed,
    "." released - people and xdotool both do it) leaves ">" behind for good, and
    every later ">" is swallowed.  When a release names a key pyglet has not seen
    pressed, forget the printable keysyms it holds: at worst one auto-repeat of a
    held character key gets through, and the input bridge drops repeats anyway.
    """
    pressed = getattr(window, "pressed_keys", None)
    if pressed is None or released in pressed:
        return
    for stale in [sym for sym in pressed if 0x20 <= sym <= 0x7E]:
        pressed.discard(stale)


def connect_window_events(shell: Any) -> None:
    """Route the window's events to ``shell.dispatch_input`` and its own handlers."""
    window = shell.window

    def height() -> int:  # read at event time (resizes); pyglet counts rows from the bottom (0 .. h-1)
        return int(shell.camera.height)

    def on_key_press(symbol: int, modifiers: int) -> bool:
        shell.dispatch_input("on_key_press", symbol, modifiers)
        return True  # never let pyglet's default (Escape closes the window) run

    def on_key_release(symbol: int, modifiers: int) -> bool:
        forget_stale_presses(window, symbol)
        shell.dispatch_input("on_key_release", symbol, modifiers)
        return True

    def on_text(text: str) -> bool:
        shell.dispatch_input("on_text", text)
        return True

    def on_mouse_press(x: int, y: int, button: int, modifiers: int) -> bool:
        shell.dispatch_input("on_mouse_press", x, height() - 1 - y, button, modifiers)
        return True

    def on_mouse_release(x: int, y: int, button: int, modifiers: int) -> bool:
        shell.dispatch_input("on_mouse_release", x, height() - 1 - y, button, modifiers)
        return True

    def on_mouse_motion(x: int, y: int, dx: int, dy: int) -> bool:
        shell.dispatch_input("on_mouse_motion", x, height() - 1 - y, dx, -dy)
        return True

    def on_mouse_drag(x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int) -> bool:
        shell.dispatch_input("on_mouse_drag", x, height() - 1 - y, dx, -dy, buttons, modifiers)
        return True

    def on_mouse_scroll(x: int, y: int, scroll_x: float, scroll_y: float) -> bool:
        shell.dispatch_input("on_mouse_scroll", x, height() - 1 - y, scroll_x, scroll_y)
        return True

    def on_file_drop(x: int, y: int, paths: list[str]) -> bool:
        shell.dispatch_input("on_file_drop", x, height() - 1 - y, list(paths))
        return True

    def on_resize(width: int, height_: int) -> None:
        fb_width, fb_height = window.get_framebuffer_size()
        shell.camera.resize(fb_width, fb_height)
        window.switch_to()
        shell.target.resize(fb_width, fb_height)

    def on_expose() -> None:
        shell.streaming.poke()  # the window was uncovered: its pixels must be drawn again

    def on_close() -> bool:
        shell.quit()
        return True

    window.push_handlers(on_key_press=on_key_press, on_key_release=on_key_release, on_text=on_text,
                         on_mouse_press=on_mouse_press, on_mouse_release=on_mouse_release,
                         on_mouse_motion=on_mouse_motion, on_mouse_drag=on_mouse_drag,
                         on_mouse_scroll=on_mouse_scroll, on_file_drop=on_file_drop, on_resize=on_resize,
                         on_expose=on_expose,
                         on_close=on_close)
