"""Small inputs must not buy big allocations: declared sizes are checked before anything is
read, a large batch is run in pieces, and verification draws a bounded number of samples."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import psutil
import pytest
from bombs import npz_bomb
from conftest import ROOT
from onnx import helper
from onnx import numpy_helper as nh
from sepconv.converter import ConvertOptions, convert_file, load_npz, npz_headers, prepare_inputs
from sepconv.converter.limits import Limits, TooLarge

#: The CLI runs under this address-space limit in these tests: a 4 GB allocation cannot succeed.
ADDRESS_SPACE = 2 << 30


def _conv_model(path: Path, batch: int | str = "N", cin: int = 8, size: int | str = 12) -> Path:
    w = nh.from_array(np.random.default_rng(1).standard_normal((16, cin, 3, 3)).astype(np.float32), "W")
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], name="conv", pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, cin, size, size])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, 16, size, size])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    return subprocess.run([sys.executable, "-m", "sepconv", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, preexec_fn=bounded, env=env)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return line


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """4 MB on disk, one float32 array of shape (1000000, 1, 32, 32): 4 GB declared."""
    path = npz_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz", (1_000_000, 1, 32, 32))
    assert path.stat().st_size < 8 << 20
    return path


def test_bomb_is_refused_from_its_header_without_growing_memory(bomb: Path) -> None:
    proc = psutil.Process()
    before = proc.memory_info().rss
    with pytest.raises(TooLarge, match=r"declares 3\.8 GiB .* compression ratio over the limit of 100"):
        load_npz(bomb, Limits())
    with pytest.raises(TooLarge, match=r"3\.8 GiB in all, over the limit of 2\.0 GiB"):
        npz_headers(bomb, "bomb.npz", Limits(max_compression_ratio=1e9))
    assert proc.memory_info().rss - before < 64 << 20
    # the limits are the environment's: raised far enough, the headers pass
    assert npz_headers(bomb, limits=Limits(max_dataset_bytes=8 << 30, max_compression_ratio=1e9))[0].nbytes == \
        4_096_000_000


def test_honest_dataset_over_a_lowered_limit(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).standard_normal((64, 8, 32, 32)).astype(np.float32))  # 2 MiB
    with pytest.raises(TooLarge, match=r"declare 2\.0 MiB in all, over the limit of 1\.0 MiB"):
        load_npz(path, Limits(max_dataset_bytes=1 << 20))
    assert load_npz(path, Limits(max_dataset_bytes=4 << 20))["x"].shape == (64, 8, 32, 32)


def test_cli_refuses_the_bomb_in_one_line(bomb: Path, tmp_path: Path) -> None:
    model = _conv_model(tmp_path / "m.onnx", size=32, cin=1)
    line = _one_line(_cli("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--data", str(bomb)))
    assert "declares 3.8 GiB" in line and "limit" in line
    assert not (tmp_path / "o.onnx").exists()


def test_cli_limits_come_from_the_environment(tmp_path: Path) -> None:
    model = _conv_model(tmp_path / "m.onnx")
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((40, 8, 12, 12), np.float32))  # 184 KiB
    env = {**os.environ, "SEPCONV_MAX_DATASET_BYTES": "100000"}
    line = _one_line(_cli("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--data", str(data), env=env))
    assert "over the limit of 97.7 KiB (SEPCONV_MAX_DATASET_BYTES)" in line


def test_a_huge_declared_batch_runs_in_pieces(tmp_path: Path) -> None:
    """--input-shape with a batch of a million (4.6 GB of input at once) converts and verifies
    under a 2 GiB address-space limit: the batch only fixes the analysis, runs take pieces."""
    model = _conv_model(tmp_path / "m.onnx")
    proc = _cli("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--input-shape", "x=1000000x8x12x12",
                "--json")
    assert proc.returncode == 0, proc.stderr
    ver = json.loads(proc.stdout)["verification"]
    assert ver["samples"] == 8 and ver["batch_size"] == 8


def test_one_sample_over_the_tensor_limit_is_refused(tmp_path: Path) -> None:
    model = _conv_model(tmp_path / "m.onnx", size="S")
    line = _one_line(_cli("convert", str(model), "-o", str(tmp_path / "o.onnx"), "--input-shape",
                          "x=1x8x20000x20000"))
    assert "input x: one sample is 11.9 GiB (8x20000x20000 float32), over the limit of 256.0 MiB" in line


def test_a_fixed_batch_over_the_tensor_limit_is_refused(tmp_path: Path) -> None:
    """A model file that fixes its batch cannot be run in pieces: refused before anything is drawn."""
    model = onnx.load(str(_conv_model(tmp_path / "m.onnx", batch=100_000)))
    with pytest.raises(TooLarge, match=r"the model fixes a batch of 100000, whose tensor is 439\.5 MiB"):
        prepare_inputs(model, {}, None, limits=Limits())
    small = onnx.load(str(_conv_model(tmp_path / "s.onnx", batch=1000)))  # 4.4 MiB a batch: fits
    assert prepare_inputs(small, {}, None, limits=Limits()).batch == 1000


def test_verification_draws_at_most_max_samples(tmp_path: Path) -> None:
    model = _conv_model(tmp_path / "m.onnx")
    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(2).standard_normal((40, 8, 12, 12)).astype(np.float32))
    reports = [convert_file(model, tmp_path / f"o{i}.onnx", ConvertOptions(rank=1, max_samples=16), data=data)
               for i in range(2)]
    for r in reports:
        assert r["verification"]["samples"] == 16 and r["verification"]["samples_given"] == 40
        assert r["options"]["max_samples"] == 16
    assert reports[0]["verification"]["outputs"] == reports[1]["verification"]["outputs"]  # the same draw
    full = convert_file(model, tmp_path / "f.onnx", ConvertOptions(rank=1), data=data)
    assert full["verification"]["samples"] == full["verification"]["samples_given"] == 40
