"""The shell's window: an OpenGL 3.3 core context, real (X11) or offscreen (EGL pbuffer)."""

from __future__ import annotations

from typing import Any

from geometry_os.scene.model import Scene


def gl_config(pyglet_module: Any) -> Any:
    """An OpenGL 3.3 core config with 8-bit RGBA (headless otherwise picks RGB565)."""
    gl = pyglet_module.gl
    return gl.Config(major_version=3, minor_version=3, forward_compatible=True, double_buffer=True,
                     red_size=8, green_size=8, blue_size=8, alpha_size=8)


def use_headless() -> None:
    """Render through EGL with no display; must happen before anything imports pyglet.window."""
    import pyglet

    pyglet.options["headless"] = True
    pyglet.options["debug_gl"] = False


def open_window(scene: Scene, headless: bool) -> Any:
    """A pyglet window for the scene (an offscreen pbuffer when ``headless``)."""
    import pyglet

    pyglet.options["debug_gl"] = False  # ~1 us per GL call otherwise
    settings = scene.window
    window = pyglet.window.Window(settings.width, settings.height, caption=settings.title, resizable=not headless,
                                  visible=not headless, config=gl_config(pyglet), vsync=False,
                                  file_drops=not headless)  # files dropped on the map (the desktop plugin)
    if settings.fullscreen and not headless:
        window.set_fullscreen(True)
    return window
