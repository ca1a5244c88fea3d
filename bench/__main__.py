"""`python -m bench`: every benchmark in one run, one table (see bench/harness.py)."""

import sys

from bench.harness import main

sys.exit(main())
