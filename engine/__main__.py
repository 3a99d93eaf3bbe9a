"""``python -m geometry_os`` is ``geos``."""

import sys

from geometry_os.cli import main

sys.exit(main())
