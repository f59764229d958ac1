"""The report of ``convert_file``: schema, totals, verification, and one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
from model_builders import conv_model, conv_node, make_model, random_weight, run
from onnx import TensorProto, helper, numpy_helper
from sepconv.converter import ConvertOptions, SepconvError, convert_file
from sepconv.converter.report import schema

CLASSES = 6


def classifier(batch: int | str = "N") -> onnx.ModelProto:
    """x -> Conv 3x3 (3 -> 8) -> Relu (also an output) -> Conv 1x1 (8 -> 6) -> GAP -> Flatten -> logits."""
    rng = np.random.default_rng(0)
    nodes = [conv_node("stem/conv", ["x", "W1", "B1"], "c1", kernel=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["feat"], name="stem/relu"),
             conv_node("head/conv", ["feat", "W2"], "c2", kernel=[1, 1]),
             helper.make_node("GlobalAveragePool", ["c2"], ["gap"], name="head/gap"),
             helper.make_node("Flatten", ["gap"], ["logits"], name="head/flatten")]
    inits = [numpy_helper.from_array(random_weight(rng, (8, 3, 3, 3)), "W1"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "B1"),
             numpy_helper.from_array(random_weight(rng, (CLASSES, 8, 1, 1)), "W2")]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
                      [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES]),
                       helper.make_tensor_value_info("feat", TensorProto.FLOAT, [batch, 8, 8, 8])], inits)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def validate(report: dict) -> None:
    jsonschema.validate(report, schema())


def check_totals(report: dict) -> None:
    rows, totals = report["layers"], report["totals"]
    assert totals["convs"] == len(rows)
    assert totals["rewritten"] == sum(r["status"] == "rewritten" for r in rows)
    assert totals["skipped"] == sum(r["status"] == "skipped" for r in rows)
    macs = totals["conv_macs"]
    assert macs["before"] == sum(r["macs_before"] for r in rows)
    assert macs["after"] == sum(r["macs_after"] for r in rows)
    for pair in (macs, totals["params"], totals["file_bytes"]):
        assert pair["ratio"] == pytest.approx(pair["after"] / pair["before"])
    for r in rows:
        if r["status"] == "skipped":
            assert r["macs_after"] == r["macs_before"] and r["params_after"] == r["params_before"]


def count_params(model: onnx.ModelProto) -> int:
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer)


def test_report_with_random_inputs(tmp_path: Path) -> None:
    model = classifier()
    src = save(model, tmp_path / "m.onnx")
    out = tmp_path / "o.onnx"
    report_path = tmp_path / "r" / "report.json"
    report = convert_file(src, out, ConvertOptions(method="depthwise", rank=2), report_path=report_path)
    validate(report)
    assert json.loads(report_path.read_text()) == json.loads(json.dumps(report))
    check_totals(report)
    rows = report["layers"]
    assert [r["name"] for r in rows] == ["stem/conv", "head/conv"]
    assert rows[0]["status"] == "rewritten" and rows[0]["rank"] == 2
    assert rows[0]["macs_before"] == 8 * 3 * 9 * 64
    assert rows[0]["macs_after"] == 3 * 2 * 9 * 64 + 8 * 3 * 2 * 64
    assert rows[1]["status"] == "skipped" and "1x1" in rows[1]["reason"]
    totals = report["totals"]
    assert totals["params"]["before"] == count_params(model)
    assert totals["params"]["after"] == count_params(onnx.load(str(out)))
    assert totals["file_bytes"]["before"] == src.stat().st_size
    assert totals["file_bytes"]["after"] == out.stat().st_size
    assert report["options"]["method"] == "depthwise"
    ver = report["verification"]
    assert ver["inputs"] == "random" and ver["samples"] >= 1
    assert ver["accuracy"] is None
    stats = {o["name"]: o for o in ver["outputs"]}
    assert set(stats) == {"logits", "feat"}
    for o in stats.values():
        assert o["max_abs_error"] >= 0 and o["rel_l2_error"] >= 0
        assert -1.000001 <= o["cosine_similarity"] <= 1.000001
    assert stats["feat"]["top1_agreement"] is None, "top-1 only for N x classes outputs"
    assert 0.0 <= stats["logits"]["top1_agreement"] <= 1.0


def test_report_full_rank_verification_is_exact(tmp_path: Path) -> None:
    src = save(classifier(), tmp_path / "m.onnx")
    report = convert_file(src, tmp_path / "o.onnx", ConvertOptions(method="spatial", rank="full", force=True))
    validate(report)
    check_totals(report)
    for o in report["verification"]["outputs"]:
        assert o["max_abs_error"] < 1e-4
        assert o["rel_l2_error"] < 1e-5
        assert o["cosine_similarity"] == pytest.approx(1.0, abs=1e-6)
    stats = {o["name"]: o for o in report["verification"]["outputs"]}
    assert stats["logits"]["top1_agreement"] == 1.0


def test_report_with_labels(tmp_path: Path) -> None:
    model = classifier()
    src = save(model, tmp_path / "m.onnx")
    out = tmp_path / "o.onnx"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 3, 8, 8)).astype(np.float32)
    labels = rng.integers(0, CLASSES, 20)
    np.savez(tmp_path / "d.npz", x=x, labels=labels)
    report = convert_file(src, out, ConvertOptions(method="depthwise", rank=1), data=tmp_path / "d.npz")
    validate(report)
    check_totals(report)
    ver = report["verification"]
    assert ver["inputs"] == "data" and ver["samples"] == 20
    before_logits, before_feat = run(model, {"x": x})
    after_logits, after_feat = run(str(out), {"x": x})
    acc = ver["accuracy"]
    assert acc["output"] == "logits"
    assert acc["before"] == pytest.approx(np.mean(before_logits.argmax(1) == labels))
    assert acc["after"] == pytest.approx(np.mean(after_logits.argmax(1) == labels))
    assert acc["drop_points"] == pytest.approx(100 * (acc["before"] - acc["after"]))
    stats = {o["name"]: o for o in ver["outputs"]}
    for name, a, b in (("logits", before_logits, after_logits), ("feat", before_feat, after_feat)):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        assert stats[name]["max_abs_error"] == pytest.approx(np.abs(b64 - a64).max(), rel=1e-4, abs=1e-6)
        assert stats[name]["rel_l2_error"] == pytest.approx(np.linalg.norm(b64 - a64) / np.linalg.norm(a64),
                                                            rel=1e-4)
        cos = float((a64 * b64).sum() / np.linalg.norm(a64) / np.linalg.norm(b64))
        assert stats[name]["cosine_similarity"] == pytest.approx(cos, rel=1e-5)
    assert stats["logits"]["top1_agreement"] == pytest.approx(np.mean(before_logits.argmax(1) ==
                                                                      after_logits.argmax(1)))


def test_fixed_batch_runs_in_batches(tmp_path: Path) -> None:
    src = save(classifier(batch=2), tmp_path / "m.onnx")
    x = np.random.default_rng(6).standard_normal((6, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, labels=np.arange(6) % CLASSES)
    report = convert_file(src, tmp_path / "o.onnx", ConvertOptions(method="depthwise", rank=1),
                          data=tmp_path / "d.npz")
    validate(report)
    assert report["verification"]["samples"] == 6 and report["verification"]["batch_size"] == 2
    np.savez(tmp_path / "odd.npz", x=x[:5])
    with pytest.raises(SepconvError):
        convert_file(src, tmp_path / "o2.onnx", ConvertOptions(), data=tmp_path / "odd.npz")


def test_no_verify_report(tmp_path: Path) -> None:
    src = save(classifier(), tmp_path / "m.onnx")
    report = convert_file(src, tmp_path / "o.onnx", ConvertOptions(method="depthwise", rank=1, verify=False))
    validate(report)
    assert report["verification"] is None


def _one_line(exc: pytest.ExceptionInfo[SepconvError]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


BAD_NPZ = {
    "missing key": lambda x, y: {"labels": y},
    "wrong dim": lambda x, y: {"x": x[:, :, :7]},
    "wrong rank": lambda x, y: {"x": x[0]},
    "extra key": lambda x, y: {"x": x, "extra": x},
    "labels wrong length": lambda x, y: {"x": x, "labels": y[:-1]},
    "labels not per sample": lambda x, y: {"x": x, "labels": np.int64(3)},
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_npz_is_a_one_line_error(tmp_path: Path, case: str) -> None:
    src = save(classifier(), tmp_path / "m.onnx")
    x = np.zeros((4, 3, 8, 8), np.float32)
    y = np.zeros(4, np.int64)
    np.savez(tmp_path / "d.npz", **BAD_NPZ[case](x, y))
    out = tmp_path / "o.onnx"
    with pytest.raises(SepconvError) as info:
        convert_file(src, out, ConvertOptions(), data=tmp_path / "d.npz")
    _one_line(info)
    assert not out.exists(), "no output is written when the data is wrong"


@pytest.mark.parametrize("content", [b"not a zip at all", b""])
def test_not_an_npz(tmp_path: Path, content: bytes) -> None:
    src = save(classifier(), tmp_path / "m.onnx")
    (tmp_path / "d.npz").write_bytes(content)
    with pytest.raises(SepconvError) as info:
        convert_file(src, tmp_path / "o.onnx", ConvertOptions(), data=tmp_path / "d.npz")
    _one_line(info)


def test_missing_npz(tmp_path: Path) -> None:
    src = save(classifier(), tmp_path / "m.onnx")
    with pytest.raises(SepconvError) as info:
        convert_file(src, tmp_path / "o.onnx", ConvertOptions(), data=tmp_path / "nope.npz")
    _one_line(info)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(SepconvError) as info:
        convert_file(tmp_path / "nope.onnx", tmp_path / "o.onnx", ConvertOptions())
    assert "nope.onnx" in _one_line(info)


@pytest.mark.parametrize("content", [b"this is not a protobuf \xff\xfe", b"", b"\x08\x07"])
def test_non_onnx_file(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "bad.onnx"
    src.write_bytes(content)
    with pytest.raises(SepconvError) as info:
        convert_file(src, tmp_path / "o.onnx", ConvertOptions())
    _one_line(info)


def test_directory_instead_of_model(tmp_path: Path) -> None:
    with pytest.raises(SepconvError) as info:
        convert_file(tmp_path, tmp_path / "o.onnx", ConvertOptions())
    _one_line(info)


def test_model_without_conv(tmp_path: Path) -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    src = save(model, tmp_path / "m.onnx")
    with pytest.raises(SepconvError) as info:
        convert_file(src, tmp_path / "o.onnx", ConvertOptions())
    assert "Conv" in _one_line(info)
    assert info.value.kind == "no_conv"


def test_invalid_model_is_rejected(tmp_path: Path) -> None:
    """A protobuf that parses but breaks the ONNX rules (a node reads an undefined tensor)."""
    model = make_model([conv_node("c", ["x", "W_missing"], "y", kernel=[3, 3])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    src = save(model, tmp_path / "m.onnx")
    with pytest.raises(SepconvError) as info:
        convert_file(src, tmp_path / "o.onnx", ConvertOptions())
    _one_line(info)


@pytest.mark.parametrize("options", [
    ConvertOptions(method="tucker"), ConvertOptions(rank=0), ConvertOptions(rank="many"),
    ConvertOptions(energy=1.5), ConvertOptions(ratio=-1.0), ConvertOptions(rank=2, energy=0.9),
])
def test_bad_options(tmp_path: Path, options: ConvertOptions) -> None:
    src = save(classifier(), tmp_path / "m.onnx")
    with pytest.raises(SepconvError) as info:
        convert_file(src, tmp_path / "o.onnx", options)
    _one_line(info)


def test_ir3_model_converts_and_saves(tmp_path: Path) -> None:
    """Old exports (IR 3) need every initializer listed as a graph input; the saved model must pass the checker."""
    from onnx_conv_cases import pytorch_converted_conv_cases

    case = next(c for c in pytorch_converted_conv_cases() if c.name == "test_Conv2d")
    src = save(case.model, tmp_path / "ir3.onnx")
    out = tmp_path / "o.onnx"
    report = convert_file(src, out, ConvertOptions(method="depthwise", rank="full", force=True))
    validate(report)
    assert report["layers"][0]["status"] == "rewritten"
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    assert report["verification"]["outputs"][0]["max_abs_error"] < 1e-4


def test_model_that_fails_verification_is_not_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If ONNX Runtime cannot verify the converted model, the error is reported and no output remains."""
    import sepconv.converter.job as conv

    def failing_verify(*args, **kwargs):
        raise SepconvError("ONNX Runtime failed to run the converted model: simulated")

    rng = np.random.default_rng(3)
    src = tmp_path / "m.onnx"
    onnx.save(conv_model([1, 4, 8, 8], random_weight(rng, (8, 4, 3, 3)), pads=[1, 1, 1, 1]), src)
    monkeypatch.setattr(conv, "verify", failing_verify)
    with pytest.raises(SepconvError, match="simulated"):
        convert_file(src, tmp_path / "out.onnx", ConvertOptions(rank="full", force=True))
    assert not (tmp_path / "out.onnx").exists()


def test_labels_that_are_not_class_ids_give_no_accuracy(tmp_path: Path) -> None:
    """Labels of any shape are accepted (a user's metric reads them); accuracy needs one class id per sample."""
    src = save(classifier(), tmp_path / "m.onnx")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3, 8, 8), np.float32), labels=np.ones((4, 2, 2), np.float32))
    report = convert_file(src, tmp_path / "o.onnx", ConvertOptions(), data=tmp_path / "d.npz")
    assert report["verification"]["samples"] == 4 and report["verification"]["accuracy"] is None
