"""The fixed-method rewrite of a loaded model: every Conv decided and replaced in place."""

from __future__ import annotations

import json
from math import prod

import onnx

from .analysis import analyse
from .errors import SepconvError
from .methods import METHODS
from .options import NONE, ConvertOptions
from .plan import Decision, apply, decide
from .progress import Steps, sub_step
from .report import layer_row
from .version import __version__


def convert_model(model: onnx.ModelProto, options: ConvertOptions,
                  layer_done: Steps | None = None) -> list[dict]:
    """Rewrite the model in place with ``options.method``; return one report row per Conv.
    ``layer_done(done, total, stage)`` hears each layer begin."""
    policy = options.validate()
    mg, layers = analyse(model, options.input_shapes, load_weights=False)
    if not layers:
        raise SepconvError("the model has no Conv node to convert", kind="no_conv")
    if options.method == NONE:
        return [layer_row(Decision(la, reason="kept: method none rewrites no Conv"), []) for la in layers]
    method = METHODS[options.method]
    rows: list[dict] = [{}] * len(layers)
    # largest weights first: their SVD workspace is the peak, and fewer new factors are held by then
    for done, i in enumerate(sorted(range(len(layers)), key=lambda k: -prod(layers[k].weight_shape)), start=1):
        layer = layers[i]
        if layer_done is not None:
            layer_done(done - 1, len(layers), sub_step("converting", "layer", done, len(layers), layer.name))
        dec = decide(layer, method, policy, options, mg)
        new_nodes = apply(mg, dec) if dec.rewritten else []
        rows[i] = layer_row(dec, new_nodes)
        dec.fact = None
        layer.release()  # the factors are in the graph now
    mg.commit()
    stamp(model, options)
    return rows


def stamp(model: onnx.ModelProto, options: ConvertOptions) -> None:
    """Record the tool version and options in the model's metadata_props."""
    entries = {"sepconv.version": __version__,
               "sepconv.options": json.dumps(options.as_dict(), sort_keys=True)}
    keep = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for k, v in entries.items():
        model.metadata_props.add(key=k, value=v)
