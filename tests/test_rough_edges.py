"""What a new user ran into in the first hour (issue 18), each pinned: bad option values refused
with the field named, budgets that cannot be checked refused, errors in one plain line."""

from __future__ import annotations

import math

import pytest
from sepconv.converter import ConvertOptions, OptionError


@pytest.mark.parametrize("field,value", [
    ("ratio", 7.0), ("ratio", 1.5), ("ratio", 0.0), ("ratio", -0.5), ("ratio", math.nan),
    ("energy", 0.0), ("energy", 1.5), ("energy", -1.0), ("energy", math.nan),
])
def test_policy_values_outside_0_1_are_refused(field: str, value: float) -> None:
    with pytest.raises(OptionError) as info:
        ConvertOptions(**{field: value}).validate()
    assert info.value.field == field
    assert "(0, 1]" in str(info.value)


@pytest.mark.parametrize("field", ["ratio", "energy"])
def test_policy_values_at_the_top_of_the_range_are_taken(field: str) -> None:
    assert ConvertOptions(**{field: 1.0}).validate().describe() == f"{field} 1"
    assert ConvertOptions(**{field: 0.25}).validate().describe() == f"{field} 0.25"
