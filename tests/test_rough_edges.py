"""What a new user ran into in the first hour (issue 18), each pinned: bad option values refused
with the field named, budgets that cannot be checked refused, errors in one plain line."""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import numpy as np
import pytest
from sepconv.converter import ConvertOptions, OptionError, write_bytes_atomic
from sepconv.converter.modelio import save_model


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


def test_an_accuracy_budget_needs_data() -> None:
    auto = ConvertOptions(method="auto", max_error=None, max_accuracy_drop=1.0)
    with pytest.raises(OptionError) as info:
        auto.validate(has_data=False)
    assert info.value.field == "max_accuracy_drop" and "needs data with 'labels'" in str(info.value)
    auto.validate(has_data=True)
    auto.validate()  # not known here: the job checks the data's labels
    ConvertOptions(method="auto", metric="top1_agreement", max_metric_drop=0.1).validate(has_data=False)


def test_a_metric_that_fails_without_labels_says_it_had_none() -> None:
    from sepconv.converter.errors import SepconvError
    from sepconv.converter.metrics import score

    def needs_labels(outputs: dict, reference: dict, labels: np.ndarray | None) -> float:
        return float(np.mean(outputs["y"].argmax(1) == labels[: len(outputs["y"])]))

    out = {"y": np.eye(4, dtype=np.float32)}
    assert score(needs_labels, "m.py:needs_labels", out, out, np.arange(4)) == 1.0
    with pytest.raises(SepconvError) as info:
        score(needs_labels, "m.py:needs_labels", out, out, None)
    assert "labels=None" in str(info.value) and "no data with 'labels'" in str(info.value)


def test_a_path_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path) -> None:
    from sepconv.converter.errors import SepconvError
    from sepconv.converter.modelio import write_atomic

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SepconvError) as info:
        save_model(_one_conv(), tmp_path / "file" / "x.onnx")
    where = tmp_path / "file"
    assert str(info.value) == f"cannot write {where / 'x.onnx'}: {where} is a file, not a folder"
    with pytest.raises(SepconvError) as info:
        write_bytes_atomic(tmp_path / "gone" / "x.json", b"{}")  # into a folder that is there, or not at all
    assert str(info.value) == f"cannot write {tmp_path / 'gone' / 'x.json'}: {os.strerror(errno.ENOENT)}"

    def full_disk(fh) -> int:
        fh.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SepconvError) as info:
        write_atomic(tmp_path / "x.json", full_disk)
    assert str(info.value) == f"cannot write {tmp_path / 'x.json'}: {os.strerror(errno.ENOSPC)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no temporary file left behind


def _one_conv():
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "W")
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_runtime_failures_keep_their_whole_message() -> None:
    """ORT says what is wrong after "for the following indices", on its later lines: all of it, on one line."""
    from sepconv.converter.errors import SepconvError
    from sepconv.converter.runtime import run, session

    sess = session(_one_conv())
    with pytest.raises(SepconvError) as info:
        run(sess, {"x": np.zeros((1, 1, 7, 7), np.float32)})
    message = str(info.value)
    assert "\n" not in message and "for the following indices" in message
    assert "index: 2 Got: 7 Expected: 5" in message and "index: 3 Got: 7 Expected: 5" in message
