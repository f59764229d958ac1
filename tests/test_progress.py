"""Progress of a conversion: per layer for a fixed method, per phase in auto mode, always rising to
1.0; and the CLI's progress bar on a terminal (none when the output is not one)."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import ROOT
from rich.console import Console
from sepconv.converter import ConvertOptions, convert_file

from sepconv.cli.main import build_parser

WIDE = ROOT / "sample_models" / "digits_wide.onnx"
DATA = ROOT / "sample_models" / "digits_wide_test.npz"


def _heard(options: ConvertOptions, tmp_path: Path, **kw) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []
    convert_file(WIDE, tmp_path / "o.onnx", options, progress=lambda s, f: seen.append((s, f)), **kw)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1][0] == "done"
    return seen


def test_fixed_method_reports_each_layer(tmp_path: Path) -> None:
    seen = _heard(ConvertOptions(method="spatial"), tmp_path)
    converting = [f for s, f in seen if s == "converting"]
    assert len(converting) == 1 + 5  # the phase's start, then each of the five Convs
    assert [s for s, _ in seen][-3:] == ["saving", "verifying", "done"]


def test_auto_mode_reports_its_phases(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEPCONV_CACHE_DIR", str(tmp_path / "cache"))
    seen = _heard(ConvertOptions(method="auto", max_error=None, max_accuracy_drop=1.0, max_samples=96), tmp_path,
                  data=DATA)
    stages = list(dict.fromkeys(s for s, _ in seen))
    assert stages == ["loading", "fitting candidates", "timing candidates", "timing in the model", "searching",
                      "checking", "saving", "verifying", "done"]
    assert sum(s == "fitting candidates" for s, _ in seen) == 4  # one per eligible layer (the stem is not)


def _cli_output(tmp_path: Path, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120)
    args = build_parser().parse_args(["convert", str(WIDE), "-o", str(tmp_path / "o.onnx"), "--method", "spatial"])
    assert args.run(args, console) == 0
    return out.getvalue()


def test_cli_draws_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    drawn, plain = _cli_output(tmp_path, terminal=True), _cli_output(tmp_path, terminal=False)
    assert "converting" in drawn and "saving" in drawn  # the bar's stage descriptions
    assert "converting" not in plain and "saving" not in plain
    assert "wrote" in drawn and "wrote" in plain
