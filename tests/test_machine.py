"""The tests' own rules for the machine (:mod:`machine`): a missing program skips its tests, or fails
them where every test must run; deadlines grow with the machine's slowness."""

from __future__ import annotations

import machine
import pytest


@pytest.mark.parametrize(("env", "required"), [
    ({}, False), ({"CI": "true"}, True), ({"CI": "false"}, False),
    ({"SEPCONV_REQUIRE_ALL_TESTS": "1"}, True), ({"SEPCONV_REQUIRE_ALL_TESTS": "0", "CI": "true"}, False),
])
def test_require_all(env, required):
    assert machine.require_all(env) is required


def test_a_missing_program_skips_or_fails(monkeypatch):
    assert machine.program("no-such-program-7f3a", "sh", install="-").endswith("/sh")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("SEPCONV_REQUIRE_ALL_TESTS", "0")
    with pytest.raises(pytest.skip.Exception, match=r"no-such-program-7f3a is not installed \(apt-get install x\)"):
        machine.program("no-such-program-7f3a", install="apt-get install x")
    monkeypatch.setenv("SEPCONV_REQUIRE_ALL_TESTS", "1")
    with pytest.raises(pytest.fail.Exception, match="not installed.*every test must run here"):
        machine.program("no-such-program-7f3a", install="apt-get install x")


def test_deadlines_follow_the_machine(monkeypatch):
    assert machine.LEAST <= machine.slowness() <= machine.MOST
    assert machine.scaled(10) == 10 * machine.slowness()
    machine.slowness.cache_clear()
    monkeypatch.setenv("SEPCONV_TEST_SLOWNESS", "3")
    try:
        assert machine.scaled(10) == 30
    finally:
        machine.slowness.cache_clear()
