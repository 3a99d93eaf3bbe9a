"""Built-in plugins of Geometry OS (the ``geometry_os.plugins`` package).

They are registered exactly like third-party plugins: through the ``geometry_os``
entry-point group, listed in pyproject.toml.  Nothing in the engine imports them.
"""
