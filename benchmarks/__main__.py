"""``python -m benchmarks``: run them all (see benchmarks/run.py)."""

from benchmarks.run import main

main()
