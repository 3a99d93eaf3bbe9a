"""Package data: the shipped scenes; ``default.yaml`` is what ``geos run`` opens."""
