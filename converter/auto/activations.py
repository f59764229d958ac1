"""Layer inputs from a real run: the model in ONNX Runtime with intermediate tensors exposed.

Only the patches a layer reads at a fixed, seeded sample of output positions are kept
(``rows x Cin*kh*kw`` per layer), and the model runs batch by batch, so memory stays
bounded whatever the image size. The same positions are used for the original and the
converted models, so their patches line up row for row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from ..data import InputSet
from ..layers import ConvLayer
from ..runtime import run, session

#: At most this many float32 values of patches are kept per layer (8 MB).
MAX_PATCH_VALUES = 2_000_000
MAX_ROWS = 2048
MIN_ROWS = 512


@dataclass
class Positions:
    """Output positions sampled for one layer: sample index, then one index per spatial axis."""

    sample: np.ndarray
    coords: list[np.ndarray]


def sample_positions(layer: ConvLayer, samples: int, seed: int) -> Positions:
    """A seeded sample of (sample, oy, ox) output positions, spread evenly over samples."""
    k = layer.cin * int(np.prod(layer.kernel))
    rows = int(np.clip(MAX_PATCH_VALUES // max(k, 1), MIN_ROWS, MAX_ROWS))
    out = layer.spatial_out or ()
    per_image = int(np.prod(out))
    each = max(1, -(-rows // samples))
    rng = np.random.default_rng(seed)
    sample_idx, flat = [], []
    for n in range(samples):
        take = min(each, per_image)
        flat.append(rng.choice(per_image, size=take, replace=False))
        sample_idx.append(np.full(take, n))
    flat_all = np.concatenate(flat)
    return Positions(np.concatenate(sample_idx), list(np.unravel_index(flat_all, out)))


def layer_positions(layers: Iterable[tuple[int, ConvLayer]], samples: int, seed: int) -> dict[str, Positions]:
    """Positions for each ``(index in the model, layer)``, seeded with ``seed`` plus the index, so a
    layer gets the same positions wherever they are drawn for the same samples and seed."""
    return {layer.name: sample_positions(layer, samples, seed + i) for i, layer in layers}


def extract_patches(x: np.ndarray, layer: ConvLayer, sample: np.ndarray, coords: list[np.ndarray]) -> np.ndarray:
    """The ``Cin x kh x kw`` input patch of each position, flattened in the weight's order."""
    assert layer.pads is not None
    nd = len(layer.kernel)
    pad = [(0, 0), (0, 0)] + [(layer.pads[i], layer.pads[nd + i]) for i in range(nd)]
    xp = np.pad(x, pad)
    offsets = np.stack(np.meshgrid(*[np.arange(k) * d for k, d in zip(layer.kernel, layer.dilations)],
                                   indexing="ij"), 0).reshape(nd, -1)  # nd x K
    idx = [coords[i][:, None] * layer.strides[i] + offsets[i][None, :] for i in range(nd)]  # rows x K each
    patches = xp[sample[:, None], :, *idx]  # rows x K x C
    return np.ascontiguousarray(patches.transpose(0, 2, 1).reshape(len(sample), -1), dtype=np.float32)


def exposed(model: onnx.ModelProto, names: list[str]) -> bytes:
    """The model, serialized, with these tensors added as graph outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output} | {i.name for i in m.graph.input}
    for n in dict.fromkeys(names):
        if n not in have:
            m.graph.output.append(helper.make_empty_tensor_value_info(n))
    return m.SerializeToString()


def collect_patches(model: onnx.ModelProto, inputs: InputSet, layers: list[ConvLayer],
                    positions: dict[str, Positions], threads: int | None) -> dict[str, np.ndarray]:
    """Run the model on ``inputs`` batch by batch; return each layer's patches at its positions."""
    names = [layer.input_name for layer in layers]
    sess = session(exposed(model, names), threads)
    out_names = [o.name for o in sess.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    offset = 0
    for feed in inputs.batches():
        n = len(next(iter(feed.values())))
        got = dict(zip(out_names, run(sess, feed)))
        for layer in layers:
            x = feed[layer.input_name] if layer.input_name in feed else got[layer.input_name]
            pos = positions[layer.name]
            sel = (pos.sample >= offset) & (pos.sample < offset + n)
            if sel.any():
                parts[layer.name].append(extract_patches(np.asarray(x), layer, pos.sample[sel] - offset,
                                                         [c[sel] for c in pos.coords]))
        offset += n
        del got
    return {k: np.concatenate(v) for k, v in parts.items()}
