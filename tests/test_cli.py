"""The sepconv command line, run as a real process: good paths and every bad input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ROOT
from onnx import helper
from onnx import numpy_helper as nh

SAMPLES = ROOT / "sample_models"


def sepconv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sepconv", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sepconv: error: ")
    return lines[0]


def small_conv_model(path: Path, cin: int = 8, cout: int = 16, size: int = 12) -> Path:
    rng = np.random.default_rng(1)
    w = nh.from_array(rng.standard_normal((cout, cin, 3, 3)).astype(np.float32), "W")
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], name="conv", pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", cin, size, size])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", cout, size, size])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_convert_seed_model_prints_and_writes_report(tmp_path: Path) -> None:
    out, rep = tmp_path / "out.onnx", tmp_path / "rep.json"
    proc = sepconv("convert", str(SAMPLES / "seed_depthwise.onnx"), "-o", str(out), "--report", str(rep), "--rank", "1")
    assert proc.returncode == 0, proc.stderr
    assert "53,952" in proc.stdout and "1,228,800" in proc.stdout
    report = json.loads(rep.read_text())
    assert report["totals"]["conv_macs"] == {"before": 1228800, "after": 53952, "ratio": 53952 / 1228800}
    onnx.checker.check_model(onnx.load(out), full_check=True)


def test_convert_json_full_rank_is_exact(tmp_path: Path) -> None:
    model = small_conv_model(tmp_path / "m.onnx")
    proc = sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--rank", "full", "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["layers"][0]["status"] == "rewritten"
    assert report["verification"]["outputs"][0]["rel_l2_error"] < 1e-5


def test_inspect_json(tmp_path: Path) -> None:
    proc = sepconv("inspect", str(small_conv_model(tmp_path / "m.onnx")), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["convs"] == 1 and info["conv_macs"] == 16 * 8 * 9 * 12 * 12


def test_inspect_input_shape_fixes_symbolic_dims(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    small_conv_model(model)
    m = onnx.load(model)
    for v in (m.graph.input[0], m.graph.output[0]):
        for d in v.type.tensor_type.shape.dim[2:]:
            d.dim_param = "S"
    onnx.save(m, model)
    info = json.loads(sepconv("inspect", str(model), "--json").stdout)
    assert info["convs_with_unknown_macs"] == 1
    info = json.loads(sepconv("inspect", str(model), "--json", "--input-shape", "x=1x8x20x20").stdout)
    assert info["conv_macs"] == 16 * 8 * 9 * 20 * 20


def test_bench_two_models(tmp_path: Path) -> None:
    model = small_conv_model(tmp_path / "m.onnx")
    out = tmp_path / "o.onnx"
    assert sepconv("convert", str(model), "-o", str(out), "--no-verify").returncode == 0
    proc = sepconv("bench", str(model), str(out), "--runs", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["models"]) == 2 and result["speedup"] > 0
    assert result["output_difference"][0]["name"] == "y"
    proc = sepconv("bench", str(model), str(out), "--runs", "2", "--batch", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["batch_size"] == 3
    line = one_line_error(sepconv("bench", str(model), "--runs", "2", "--batch", "0"))
    assert line == "sepconv: error: --batch: batch must be 1 to 4096, not 0"


def test_bench_of_models_with_different_inputs_names_both_shapes(tmp_path: Path) -> None:
    a, b = small_conv_model(tmp_path / "a.onnx"), small_conv_model(tmp_path / "b.onnx", size=16)
    line = one_line_error(sepconv("bench", str(a), str(b), "--runs", "2"))
    assert line == (f"sepconv: error: the two models cannot share inputs: input x is ?x8x12x12 in {a} but "
                    f"?x8x16x16 in {b}")
    c = small_conv_model(tmp_path / "c.onnx", cin=4)
    assert "?x8x12x12 in" in one_line_error(sepconv("bench", str(a), str(c), "--runs", "2"))


def test_missing_file() -> None:
    assert "no such file" in one_line_error(sepconv("convert", "nope.onnx", "-o", "x.onnx"))


def test_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01 this is not a protobuf \xff\xff")
    assert "not" in one_line_error(sepconv("inspect", str(bad)))


def test_truncated_model(tmp_path: Path) -> None:
    data = (SAMPLES / "digits_small.onnx").read_bytes()
    bad = tmp_path / "trunc.onnx"
    bad.write_bytes(data[: len(data) // 2])
    one_line_error(sepconv("convert", str(bad), "-o", str(tmp_path / "o.onnx")))


def test_model_failing_checker(tmp_path: Path) -> None:
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    bad = tmp_path / "invalid.onnx"
    bad.write_bytes(m.SerializeToString())
    assert "checker" in one_line_error(sepconv("inspect", str(bad)))


def test_no_conv(tmp_path: Path) -> None:
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert "no Conv" in one_line_error(sepconv("convert", str(path), "-o", str(tmp_path / "o.onnx")))
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("arrays,needle", [
    ({"wrong": np.zeros((2, 8, 12, 12), np.float32)}, "no array for input"),
    ({"x": np.zeros((2, 8, 10, 12), np.float32)}, "dim 2"),
    ({"x": np.zeros((8, 12, 12), np.float32)}, "rank"),
    ({"x": np.zeros((2, 8, 12, 12), np.float32), "labels": np.zeros(3, np.int64)}, "labels"),
])
def test_wrong_npz(tmp_path: Path, arrays: dict, needle: str) -> None:
    model = small_conv_model(tmp_path / "m.onnx")
    npz = tmp_path / "d.npz"
    np.savez(npz, **arrays)
    line = one_line_error(sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--data", str(npz)))
    assert needle in line
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("arrays,needle", [
    ({"wrong": np.zeros((2, 8, 12, 12), np.float32)}, "the data has no array for input(s) x (keys found: wrong)"),
    ({"x": np.zeros((2, 8, 12, 12), np.float32), "y": np.zeros(2)}, "array(s) y that are not model inputs"),
    ({"x": np.zeros((2, 8, 10, 12), np.float32)}, "dim 2 is 10 in the data but 12 in the model"),
])
def test_wrong_npz_without_verification(tmp_path: Path, arrays: dict, needle: str) -> None:
    """--no-verify does not run the data, but a file that does not fit the model is still said, not ignored."""
    model = small_conv_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "d.npz", **arrays)
    line = one_line_error(sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--data",
                                  str(tmp_path / "d.npz"), "--no-verify"))
    assert needle in line
    assert not (tmp_path / "o.onnx").exists()
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 12, 12), np.float32), labels=np.zeros(2, np.int64))
    assert sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--data", str(tmp_path / "d.npz"),
                   "--no-verify").returncode == 0


def test_bad_options(tmp_path: Path) -> None:
    model = small_conv_model(tmp_path / "m.onnx")
    assert "--rank" in one_line_error(sepconv("convert", str(model), "-o", "o.onnx", "--rank", "zero"))
    assert "--energy" in one_line_error(sepconv("convert", str(model), "-o", "o.onnx", "--energy", "1.5"))
    for ratio in ("7", "1.5", "0"):  # once accepted, writing an unchanged model
        line = one_line_error(sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--ratio", ratio))
        assert f"--ratio {float(ratio)}: must be in (0, 1]" in line
    assert not (tmp_path / "o.onnx").exists()
    assert "--include" in one_line_error(sepconv("convert", str(model), "-o", "o.onnx", "--include", "(["))
    assert "--input-shape" in one_line_error(sepconv("inspect", str(model), "--input-shape", "x=1xfoo"))
    assert "does not have" in one_line_error(sepconv("inspect", str(model), "--input-shape", "nope=1x8x12x12"))


def test_an_accuracy_budget_without_labelled_data_is_refused(tmp_path: Path) -> None:
    """Once "checked" on random inputs, which have no accuracy: refused, before anything runs."""
    model, out = small_conv_model(tmp_path / "m.onnx"), tmp_path / "o.onnx"
    budget = ("--method", "auto", "--max-accuracy-drop", "1")
    line = one_line_error(sepconv("convert", str(model), "-o", str(out), *budget))
    assert "--max-accuracy-drop 1.0: needs data with 'labels'" in line
    line = one_line_error(sepconv("batch", str(model), "-o", str(tmp_path / "out"), *budget))
    assert "--max-accuracy-drop 1.0: needs data with 'labels'" in line
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).standard_normal((16, 8, 12, 12)).astype(np.float32))
    line = one_line_error(sepconv("convert", str(model), "-o", str(out), *budget, "--data", str(tmp_path / "d.npz")))
    assert "--max-accuracy-drop 1.0: needs data with 'labels'" in line and "the data has none" in line
    assert not out.exists() and not (tmp_path / "out").exists()


def test_an_output_that_cannot_be_written_is_one_plain_line(tmp_path: Path) -> None:
    """Said before converting, naming the path given (not a temporary file's name)."""
    model = small_conv_model(tmp_path / "m.onnx")
    (tmp_path / "file").write_text("not a folder")
    bad = tmp_path / "file" / "x.onnx"
    line = one_line_error(sepconv("convert", str(model), "-o", str(bad)))
    assert line == f"sepconv: error: cannot write {bad}: {tmp_path / 'file'} is a file, not a folder"
    line = one_line_error(sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--report", str(bad)))
    assert line.startswith(f"sepconv: error: cannot write {bad}: ")
    assert not (tmp_path / "o.onnx").exists()
    if Path("/proc/self").is_dir():  # Linux: a folder nothing can be created in
        line = one_line_error(sepconv("convert", str(model), "-o", "/proc/x.onnx"))
        assert line == "sepconv: error: cannot write /proc/x.onnx: No such file or directory"


def test_batch_with_a_corrupt_file(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    small_conv_model(src / "a.onnx")
    small_conv_model(src / "b.onnx", cin=4, cout=32)
    (src / "corrupt.onnx").write_bytes(b"garbage, not a model")
    out = tmp_path / "out"
    proc = sepconv("batch", str(src), "-o", str(out), "--jobs", "2", "--no-verify")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    status = {Path(r["input"]).name: r["status"] for r in summary}
    assert status == {"a.onnx": "converted", "b.onnx": "converted", "corrupt.onnx": "failed"}
    for name in ("a", "b"):
        onnx.checker.check_model(onnx.load(out / f"{name}.onnx"))
        assert json.loads((out / f"{name}.report.json").read_text())["totals"]["rewritten"] == 1
    assert not (out / "corrupt.onnx").exists()


def test_batch_all_good_exits_zero(tmp_path: Path) -> None:
    small_conv_model(tmp_path / "a.onnx")
    proc = sepconv("batch", str(tmp_path / "*.onnx"), "-o", str(tmp_path / "out"), "--jobs", "1")
    assert proc.returncode == 0, proc.stderr


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    model = small_conv_model(tmp_path / "m.onnx")
    line = one_line_error(sepconv("convert", str(model), "-o", "o.onnx", "--rank", "2", "--ratio", "0.3"))
    assert "--ratio" in line and "--help" in line
    one_line_error(sepconv("frobnicate"))
    one_line_error(sepconv("convert", str(model)))  # -o missing


def test_more_bad_input(tmp_path: Path) -> None:
    model = small_conv_model(tmp_path / "m.onnx")
    np.save(tmp_path / "plain.npy", np.zeros((2, 8, 12, 12), np.float32))
    assert ".npy" in one_line_error(sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"),
                                            "--data", str(tmp_path / "plain.npy")))
    np.savez(tmp_path / "nan.npz", x=np.full((2, 8, 12, 12), np.nan, np.float32))
    assert "NaN" in one_line_error(sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"),
                                           "--data", str(tmp_path / "nan.npz")))
    assert "folder" in one_line_error(sepconv("convert", str(model), "-o", str(tmp_path)))
    assert "--threads" in one_line_error(sepconv("convert", str(model), "-o", "o.onnx", "--threads", "0"))
    assert "auto only" in one_line_error(sepconv("convert", str(model), "-o", "o.onnx", "--max-error", "0.2"))
    assert not (tmp_path / "o.onnx").exists()


def test_report_gives_the_noise_floor(tmp_path: Path) -> None:
    """Full rank is within float rounding of the original, and the report says what rounding is."""
    model = small_conv_model(tmp_path / "m.onnx")
    proc = sepconv("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--rank", "full", "--force", "--json")
    out = json.loads(proc.stdout)["verification"]["outputs"][0]
    assert 0.0 <= out["rel_l2_noise_floor"] < 1e-5
    assert out["rel_l2_error"] < 1e-5


def test_batch_bad_option_names_the_flag(tmp_path: Path) -> None:
    """batch validates the options once, before any worker starts or any folder is made."""
    model = small_conv_model(tmp_path / "m.onnx")
    assert "--rank" in one_line_error(sepconv("batch", str(model), "-o", str(tmp_path / "out"), "--rank", "zero"))
    assert not (tmp_path / "out").exists()


def test_each_command_module_registers_and_runs_itself() -> None:
    from sepconv.cli.main import COMMANDS, build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == ["inspect", "convert", "batch", "bench", "serve", "worker"]
    for module in COMMANDS:
        assert sub.choices[module.__name__.rsplit(".cmd_", 1)[1]].get_default("run") is module.run


def test_option_fields_are_named_by_their_flags() -> None:
    from sepconv.cli.args import flag
    assert flag("input_shapes") == "--input-shape"
    assert flag("max_accuracy_drop") == "--max-accuracy-drop"


def test_main_in_process_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sepconv.cli.main import main
    assert main(["bench", str(small_conv_model(tmp_path / "m.onnx")), "--runs", "0"]) == 1
    assert capsys.readouterr().err == "sepconv: error: --runs and --threads must be at least 1, --warmup at least 0\n"


def test_convert_int8_prints_each_layers_precision(tmp_path: Path) -> None:
    out, rep = tmp_path / "q.onnx", tmp_path / "q.json"
    proc = sepconv("convert", str(SAMPLES / "digits_small.onnx"), "-o", str(out), "--method", "none",
                   "--precision", "int8", "--data", str(SAMPLES / "digits_small_test.npz"), "--report", str(rep))
    assert proc.returncode == 0, proc.stderr
    assert "prec" in proc.stdout and "precision: int8 (asked for int8)" in proc.stdout
    assert "no Conv was rewritten" not in proc.stdout
    report = json.loads(rep.read_text())
    assert report["options"]["precision"] == "int8" and report["precision"]["chosen"] == "int8"
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(out)).graph.node}
    bad = sepconv("convert", str(SAMPLES / "digits_small.onnx"), "-o", str(out), "--method", "none")
    assert bad.returncode != 0 and "--precision" in one_line_error(bad)


def test_bench_on_labelled_data_prints_each_models_accuracy() -> None:
    model = ROOT / "sample_models" / "digits_small.onnx"
    data = model.with_name("digits_small_test.npz")
    proc = sepconv("bench", str(model), "--runs", "2", "--batch", "16", "--data", str(data))
    assert proc.returncode == 0, proc.stderr
    assert "batch 16" in proc.stdout and "top-1 accuracy on 256 labelled samples" in proc.stdout, proc.stdout
