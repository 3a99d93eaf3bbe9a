"""``geos doctor``'s GL line: can we get an OpenGL 3.3 context, and from whom."""

from __future__ import annotations

from geometry_os.registry import CheckResult


def gl_checks() -> list[CheckResult]:
    """Open a headless (EGL) context and report the renderer, or why it failed."""
    import pyglet
    from pyglet import gl

    from geometry_os.window import gl_config

    try:
        window = pyglet.window.Window(width=16, height=16, visible=False, config=gl_config(pyglet))
    except Exception as exc:  # no EGL/GL at all: the finding is the message
        return [CheckResult("fail", "OpenGL 3.3", f"{type(exc).__name__}: {exc} "
                            "(apt install libegl1 libegl-mesa0 libgl1-mesa-dri)")]
    try:
        info = window.context.get_info()
        renderer = info.get_renderer()
        version = ".".join(str(part) for part in info.get_version())
        size = gl.GLint()
        gl.glGetIntegerv(gl.GL_MAX_TEXTURE_SIZE, size)
    finally:
        window.close()
    software = any(word in renderer.lower() for word in ("llvmpipe", "softpipe", "swrast"))
    return [CheckResult("warn" if software else "ok", "OpenGL",
                        f"{renderer}, GL {version}, max texture {size.value}"
                        + (" (software rendering: fine for a few tiles)" if software else ""))]
