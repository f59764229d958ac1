"""Progress of a conversion: per layer for a fixed method, per phase in auto mode, always rising to
1.0; and the CLI's progress bar on a terminal (none when the output is not one)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from conftest import ROOT
from rich.console import Console
from sepconv.converter import ConvertOptions, convert_file
from sepconv.converter.progress import phase_of

from sepconv.cli.main import build_parser

WIDE = ROOT / "sample_models" / "digits_wide.onnx"
DATA = ROOT / "sample_models" / "digits_wide_test.npz"


def _heard(options: ConvertOptions, tmp_path: Path, **kw) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []
    convert_file(WIDE, tmp_path / "o.onnx", options, progress=lambda s, f: seen.append((s, f)), **kw)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1][0] == "done"
    return seen


def _numbered(seen: list[tuple[str, float]], phase: str, what: str) -> list[tuple[int, int, str, float]]:
    """The sub-steps of ``phase`` read back from their text: (k, n, name, fraction) of
    'PHASE: WHAT k of n (name)'."""
    pattern = re.compile(rf"^{re.escape(phase)}: {what} (\d+) of (\d+)(?: \((.+?)\))?")
    return [(int(m[1]), int(m[2]), m[3] or "", f) for s, f in seen if (m := pattern.match(s))]


def test_fixed_method_reports_each_layer(tmp_path: Path) -> None:
    seen = _heard(ConvertOptions(method="spatial"), tmp_path)
    layers = _numbered(seen, "converting", "layer")
    assert [(k, n) for k, n, _, _ in layers] == [(k, 5) for k in range(1, 6)]  # each of the five Convs, in turn
    assert {name for _, _, name, _ in layers} == {f"/conv{i}/Conv" for i in range(1, 6)}
    assert [s for s, _ in seen][-3:] == ["saving", "verifying", "done"]


def test_auto_mode_reports_its_phases_and_sub_steps(tmp_path: Path, monkeypatch) -> None:
    """A real small auto conversion: the phases in order, and within them sub-steps a person reads
    ("fitting candidates: layer 2 of 4 (/conv3/Conv)"), counted up, at fractions that rise."""
    monkeypatch.setenv("SEPCONV_CACHE_DIR", str(tmp_path / "cache"))
    seen = _heard(ConvertOptions(method="auto", max_error=None, max_accuracy_drop=1.0, max_samples=96), tmp_path,
                  data=DATA)
    phases = list(dict.fromkeys(phase_of(s) for s, _ in seen))
    assert phases == ["loading", "fitting candidates", "timing candidates", "timing in the model", "searching",
                      "checking", "saving", "verifying", "done"]
    for phase in ("fitting candidates", "timing candidates", "timing in the model"):
        steps = _numbered(seen, phase, "layer")
        assert [(k, n) for k, n, _, _ in steps] == [(k, 4) for k in range(1, 5)], (phase, steps)  # the stem is not
        assert all(name.startswith("/conv") for _, _, name, _ in steps)
        fractions = [f for *_, f in steps]
        assert fractions == sorted(fractions) and fractions[0] < fractions[-1]
    scored = _numbered(seen, "searching", "scoring step")
    assert scored and all(n >= k for k, n, _, _ in scored)
    assert any(s.startswith("searching: checking step") and "held-out" in s for s, _ in seen)
    assert any(s.startswith("checking: step") for s, _ in seen)


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
