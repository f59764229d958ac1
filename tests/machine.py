"""What the tests need from the machine beyond pip: its programs and its speed.

Programs (redis-server, chromium): :func:`program` finds one, or the test that needs it is skipped with
a reason that says how to install it (``pytest -rs`` lists them; the project's addopts do). Where every
test must run (``SEPCONV_REQUIRE_ALL_TESTS=1``, which ``.ci/run`` sets, or ``CI=true`` with the variable
unset), a missing program fails the test instead, so nothing is silently left out.

Speed: :func:`slowness` says how many times slower than an idle reference core this machine runs now;
:func:`scaled` scales a wait by it, so a loaded or slow machine gets longer deadlines and a fast one
loses nothing (every wait ends as soon as what it waits for happens).
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Mapping
from typing import NoReturn

import numpy as np
import pytest

REQUIRE_ALL = "SEPCONV_REQUIRE_ALL_TESTS"
SLOWNESS = "SEPCONV_TEST_SLOWNESS"
#: the reference work's time on one idle core of a 2-core AMD EPYC (the project's CI machine), in seconds
REFERENCE_S = 0.03
#: the factor is kept within these: a timing hiccup neither shortens a deadline nor makes it endless
LEAST, MOST = 1.0, 8.0


def require_all(environ: Mapping[str, str] = os.environ) -> bool:
    """Must every test run? ``SEPCONV_REQUIRE_ALL_TESTS`` (1/0), else whether ``CI`` is ``true``."""
    value = environ.get(REQUIRE_ALL, "").strip().lower()
    if value:
        return value not in ("0", "false", "no")
    return environ.get("CI", "").strip().lower() == "true"


def missing(reason: str) -> NoReturn:
    """Skip the calling test (or module) for a missing part; fail it where every test must run."""
    if require_all():
        pytest.fail(f"{reason}; every test must run here ({REQUIRE_ALL}=1 or CI=true)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def program(name: str, *others: str, install: str) -> str:
    """The path of the program ``name`` (or of one of ``others``, its other names) on PATH;
    :func:`missing` when there is none, naming how to ``install`` it."""
    for candidate in (name, *others):
        path = shutil.which(candidate)
        if path:
            return path
    missing(f"{name} is not installed ({install})")


def _reference_work() -> float:
    """Seconds for a fixed piece of single-threaded work: Python bytecode and small numpy operations,
    the mix of the service's and the converter's own code."""
    t0 = time.perf_counter()
    total = 0
    for i in range(200_000):
        total += i * i % 7
    a = np.arange(4096, dtype=np.float64)
    for _ in range(1000):
        a = np.sqrt(a * a + 1.0) - 0.5
    return time.perf_counter() - t0


@functools.cache
def slowness() -> float:
    """How many times slower than :data:`REFERENCE_S` the reference work runs here (the median of five
    timings), or the machine's load per core where that is higher; within [LEAST, MOST].
    ``SEPCONV_TEST_SLOWNESS`` sets it instead."""
    given = os.environ.get(SLOWNESS, "").strip()
    if given:
        return max(float(given), LEAST)
    measured = float(np.median([_reference_work() for _ in range(5)])) / REFERENCE_S
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return min(max(measured, load, LEAST), MOST)


def scaled(seconds: float) -> float:
    """``seconds`` as a deadline on this machine: scaled by :func:`slowness`."""
    return seconds * slowness()
