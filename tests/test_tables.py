"""The CLI's output read by a person at 80 columns and by a pipe: tables fit, no number or word is split
across lines, sentences stay whole (issue 18). The commands run as real processes on real models."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ROOT
from onnx import TensorProto, helper
from onnx import numpy_helper as nh
from rich.console import Console
from sepconv.converter import ConvertOptions, convert_file

from sepconv.cli import tables

SAMPLES = ROOT / "sample_models"
BOX = "┏┃┡│└"
NOISE = ("noise floor: the original against itself with ONNX Runtime's graph optimizations off "
         "(float rounding alone)")


def piped(*args: str, columns: int | None = 80) -> str:
    """The command's stdout through a pipe, with COLUMNS set as a user's shell may export it."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    proc = subprocess.run([sys.executable, "-m", "sepconv", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def table_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln[:1] in BOX]


def assert_fits(text: str, width: int = 80) -> None:
    lines = table_lines(text)
    assert lines, text
    assert max(len(ln) for ln in lines) <= width, "\n".join(ln for ln in lines if len(ln) > width)


def wide_model(path: Path) -> Path:
    """Long layer names (one with brackets), a grouped Conv and a 1x1 one (each skipped, for a reason), and
    multiplications past a hundred billion: what makes a table wide."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) for s in ((64, 3, 3, 3), (64, 1, 3, 3), (128, 64, 1, 1),
                                                                   (128, 128, 3, 3))]
    names = ["/backbone/stage1/block0/conv_stem/Conv", "/backbone/stage1/block1/[dw]/Conv",
             "/backbone/stage1/block1/pw/Conv", "/backbone/stage2/block0/conv3x3/Conv"]
    extra = [{"pads": [1] * 4}, {"pads": [1] * 4, "group": 64}, {}, {"pads": [1] * 4}]
    flow = ["x", "a", "b", "c", "y"]
    nodes = [helper.make_node("Conv", [flow[i], f"W{i}"], [flow[i + 1]], name=names[i], **extra[i]) for i in range(4)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 1024, 1024])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 1024, 1024])],
                          [nh.from_array(w, f"W{i}") for i, w in enumerate(weights)])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_inspect_fits_80_columns(tmp_path: Path) -> None:
    model = wide_model(tmp_path / "wide.onnx")
    out = piped("inspect", str(model))
    assert_fits(out)
    rows = "\n".join(table_lines(out))
    # 64*3*9 and 128*128*9 multiplications per pixel of a 1024 x 1024 output, with a unit past a billion
    for whole in ("1.812G", "154.6G", "604M", "8.59G", "1x128x1024x1024", "128x128x3x3", "depthwise,", "no [1]"):
        assert whole in rows, whole
    assert "[1] already depthwise (group = input channels)" in out.splitlines()
    wide = piped("inspect", str(model), columns=None)  # piped, no COLUMNS: wide tables, names whole
    assert "/backbone/stage1/block1/[dw]/Conv" in wide  # brackets in a name are text, not rich markup
    assert "165,624,676,352" in wide  # the totals line keeps the exact count


def test_report_fits_80_columns(tmp_path: Path) -> None:
    out = piped("convert", str(SAMPLES / "digits_wide.onnx"), "-o", str(tmp_path / "o.onnx"), "--ratio", "0.05",
                "--data", str(SAMPLES / "digits_wide_test.npz"))
    assert_fits(out)
    rows = table_lines(out)
    for whole in ("/conv1/Conv", "/conv4/Conv", "294,912", "18,874,368", "26,214,400", "1,253,376", "depthwise",
                  "skipped", "652,714", "2,614,683"):
        assert any(whole in ln for ln in rows), whole
    lines = out.splitlines()
    # four layers share one reason: said once, under the table, whole
    assert "[1] even rank 1 costs more than 0.05 x the original's multiplications" in lines
    assert sum(ln.count("[1]") for ln in rows) == 4
    assert NOISE in lines  # longer than 80 characters: not hard-wrapped when piped
    assert any(re.fullmatch(r"accuracy on the labels: [\d.]+% before, [\d.]+% after \(dropped \d+\.\d\d points\)",
                            ln) for ln in lines), out


def test_huge_counts_fit_the_layer_table(tmp_path: Path) -> None:
    report = convert_file(wide_model(tmp_path / "wide.onnx"), tmp_path / "o.onnx",
                          ConvertOptions(method="spatial", verify=False))
    buf = io.StringIO()
    tables.report_table(report, Console(file=buf, width=80))
    out = buf.getvalue()
    assert_fits(out)
    rows = "\n".join(table_lines(out))
    assert "1.812G" in rows and "154.6G" in rows and "[2]" in rows
    assert "165,624,676,352" in rows  # the totals table has room for the exact count


def test_batch_and_bench_fit_80_columns(tmp_path: Path) -> None:
    from test_cli import small_conv_model

    src = tmp_path / "in"
    src.mkdir()
    small_conv_model(src / "a.onnx")
    (src / "corrupt.onnx").write_bytes(b"garbage, not a model")
    out = piped("batch", str(src), "-o", str(tmp_path / "out"), "--no-verify", "--jobs", "1")
    assert_fits(out)
    assert "converted" in out and "failed" in out
    bench = piped("bench", str(src / "a.onnx"), str(tmp_path / "out" / "a.onnx"), "--runs", "3")
    assert_fits(bench)
    assert any(ln.startswith("speedup (median first / median second): ") for ln in bench.splitlines())


@pytest.mark.parametrize("terminal", [False, True])
def test_sentences_wrap_at_words_on_a_terminal_and_not_at_all_when_piped(terminal: bool) -> None:
    sentence = ("auto mode: chose step 17 of the explored trade-off: held-out error 0.2687; whole-model median "
                "latency 1.993 -> 0.411 ms (4.85x, measured interleaved at 2 threads: the speedup holds at that "
                "thread count; set --threads to the deployment's) [see the report]")
    buf = io.StringIO()
    tables.say(Console(file=buf, width=80, force_terminal=terminal, color_system=None), sentence)
    lines = buf.getvalue().splitlines()
    if not terminal:
        assert lines == [sentence]
    else:
        assert len(lines) > 1 and max(map(len, lines)) <= 80
        assert " ".join(lines).split() == sentence.split()  # broken between words only, brackets kept


@pytest.mark.parametrize("drop,words", [(0.31, "dropped 0.31 points"), (-0.31, "gained 0.31 points"),
                                        (36.444, "dropped 36.44 points"), (0.001, "unchanged"), (0.0, "unchanged")])
def test_accuracy_change_in_words(drop: float, words: str) -> None:
    assert tables.accuracy_change(drop) == words
