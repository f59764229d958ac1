"""Shared test setup: the tests and devtools folders on sys.path (sepconv itself is installed)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in ("tests", "devtools"):  # the shared builders, and the local stack the benchmarks use too
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))
