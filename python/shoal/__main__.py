"""`python -m shoal` runs the command line, as the `shoal` script does."""

import sys

from shoal.cli import main

sys.exit(main())
