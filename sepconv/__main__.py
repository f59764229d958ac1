"""``python -m sepconv`` runs the sepconv command line."""

import sys

from .cli.main import main

sys.exit(main())
