"""Test set-up of the example plugin: its tests load ``geos_ripple`` from this folder, so
they run in a checkout without ``pip install`` (and test this copy when it is installed).

``pytest`` puts this file's folder on ``sys.path`` (it is not inside a package), which
makes ``geos_ripple`` importable; the tests name the plugin with
``pytest.mark.geos_plugins(ripple="geos_ripple")``, the line its pyproject.toml declares.
"""
