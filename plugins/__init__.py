"""Built-in plugins.  They are registered exactly like third-party ones, from this list.

Each entry is ``(plugin name, module)``; the module holds ``@engine.hookimpl``
functions.  Order does not matter for behaviour (layers have explicit z-orders and
effects are ordered by the scene), only for the order ``geos plugins`` lists them.
"""

BUILTIN_PLUGINS: list[tuple[str, str]] = [
    ("map", "plugins.map"),
    ("tiles", "plugins.tiles"),
    ("hud", "plugins.hud"),
    ("effects", "plugins.effects"),
    ("pattern", "plugins.pattern"),
    ("qemu", "plugins.qemu"),
    ("input", "plugins.input"),
]
