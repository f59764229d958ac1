"""``python -m cli`` runs the sepconv command line."""

import sys

from .main import main

sys.exit(main())
