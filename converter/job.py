"""The whole conversion job, as the CLI and the service run it: load, a strategy (a fixed
method, or auto mode), save atomically, verify in ONNX Runtime, report.

A converted model that cannot be verified is not handed out: its file is removed and the
error raised. Where auto mode keeps the original, the original's bytes are written as they are.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from .auto import AUTO_SHARES, convert_auto
from .auto.precision_stage import for_fixed
from .data import InputSet, check_npz, load_npz, prepare_inputs
from .errors import SepconvError
from .metrics import metric_of
from .modelio import check_writable, load_model_sized, make_parent, save_model, write_bytes_atomic
from .options import ConvertOptions
from .precision import FLOAT
from .progress import Phases, Progress
from .report import build_report, count_params, mark_precision, write_report
from .rewrite import convert_model, stamp
from .timing import median_round
from .verify import verify

#: Each phase's share of a job's progress, for a fixed method and for auto mode.
FIXED_PHASES = {"loading": 1, "converting": 6, "quantizing": 6, "saving": 1, "verifying": 2}
AUTO_PHASES = {"loading": 1, **AUTO_SHARES, "saving": 1, "verifying": 1}
#: Seconds the float and int8 rewrites of a fixed method are timed against each other (precision auto).
FIXED_CHECK_SECONDS, FIXED_CHECK_ROUNDS = 2.0, 3


def convert_file(source: str | Path, output: str | Path, options: ConvertOptions,
                 data: str | Path | None = None, report_path: str | Path | None = None,
                 progress: Progress | None = None) -> dict:
    """Load, convert, save (atomically), verify and report. Returns the report. ``progress``
    hears each phase and, within it, each layer (see :mod:`~sepconv.converter.progress`)."""
    options.validate(has_data=data is not None)  # fail on bad options before reading anything
    _check_paths(source, output, report_path)
    quantize = options.precision != FLOAT
    shares = AUTO_PHASES if options.auto else FIXED_PHASES
    phases = Phases(progress, {k: v for k, v in shares.items() if k != "quantizing" or quantize})
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    phases.step("loading", 0)
    model, bytes_before = load_model_sized(source)
    params_before = count_params(model)
    arrays = load_npz(data) if data is not None and (options.verify or options.auto or quantize) else None
    if data is not None and arrays is None:  # not run (--no-verify), but a file that does not fit is still said
        check_npz(model, data, options.input_shapes)
    auto = precision = None
    if options.auto:
        outcome = convert_auto(model, options, arrays, timings, phases)
        converted, rows, auto, check_on = outcome.model, outcome.rows, outcome.section, outcome.held_out
        precision = outcome.precision
    else:  # check the data against the model before spending time on it
        inputs = prepare_inputs(model, options.input_shapes, arrays, options.seed).draw(
            options.max_samples, options.seed) if options.verify or quantize else None
        check_on = inputs if options.verify else None
        timings["load_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        phases.step("converting", 0)
        original = model.SerializeToString() if quantize else b""
        rows, converted = convert_model(model, options, partial(phases.step, "converting")), model
        timings["convert_s"] = time.perf_counter() - t1
        if quantize:
            assert inputs is not None
            phases.step("quantizing", 0)
            converted, precision = _quantize(converted, original, inputs, options)
            timings["quantize_s"] = time.perf_counter() - t1 - timings["convert_s"]
    t2 = time.perf_counter()
    phases.step("saving", 0)
    bytes_after = _save(converted, source, output, bytes_before)
    params_after = count_params(converted if converted is not None else model)
    del model, converted
    timings["save_s"] = time.perf_counter() - t2
    phases.step("verifying", 0)
    verification = _verify(source, output, check_on, options, timings)
    timings["total_s"] = time.perf_counter() - t0
    report = build_report(rows, options.as_dict(), verification, params=(params_before, params_after),
                          file_bytes=(bytes_before, bytes_after), source=str(source), output=str(output),
                          timings=timings)
    if auto is not None:
        report["auto"] = auto
    if precision is not None:
        report["precision"] = precision
        mark_precision(report, precision)
    if report_path is not None:
        write_report(report, report_path)
    phases.step("verifying", 1, stage="done")
    return report


def _quantize(converted, original: bytes, inputs: InputSet, options: ConvertOptions):
    """A fixed method's rewrite at the precision asked for (``auto.precision_stage.for_fixed``)."""
    model, section = for_fixed(converted, original, inputs, options, partial(_timed_pair, threads=options.threads),
                               metric_of(options.metric))
    stamp(model, options)
    return model, section


def _timed_pair(first: bytes, second: bytes, feed: dict, threads: int | None = None) -> dict:
    before, after, rounds = median_round([first, second], feed, threads, FIXED_CHECK_SECONDS, FIXED_CHECK_ROUNDS,
                                         min_runs=10, max_runs=300)
    return {"float_ms": before, "int8_ms": after, "ratio": after / before, "round_ratios": rounds}


def _check_paths(source: str | Path, output: str | Path, report_path: str | Path | None) -> None:
    for path, flag in ((output, "-o"), (report_path, "--report")):
        if path is not None and Path(path).is_dir():
            raise SepconvError(f"{flag} {path}: is a folder; give a file name")
        if path is not None and Path(path).resolve() == Path(source).resolve():
            raise SepconvError(f"{flag} {path} is the input model: choose another path (the original is needed "
                               "to verify the conversion)")
        if path is not None:
            check_writable(path)


def _save(converted, source: str | Path, output: str | Path, bytes_before: int) -> int:
    """Write the converted model (checked), or the original's own bytes where none was made."""
    if converted is None and bytes_before == Path(source).stat().st_size:
        raw = Path(source).read_bytes()  # the original, byte for byte
        make_parent(output)
        write_bytes_atomic(output, raw)
        return len(raw)
    if converted is None:  # the original has external data: save it whole, as loaded
        converted = load_model_sized(source)[0]
    return save_model(converted, output, check=True)


def _verify(source: str | Path, output: str | Path, inputs: InputSet | None, options: ConvertOptions,
            timings: dict[str, float]) -> dict | None:
    """Verify the saved model against the original; one that cannot be verified is removed."""
    if inputs is None:
        return None
    t = time.perf_counter()
    try:
        result = verify(source, output, inputs, options.threads, options.seed)
    except SepconvError:
        Path(output).unlink(missing_ok=True)
        Path(str(output) + ".data").unlink(missing_ok=True)
        raise
    timings["verify_s"] = time.perf_counter() - t
    return result
