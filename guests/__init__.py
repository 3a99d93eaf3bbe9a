"""Package data: recipes of the guest images Geometry OS builds itself (``geos image pull tiny-linux``)."""
