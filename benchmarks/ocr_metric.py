"""The task metric of a CTC text recognizer (ddddocr's CRNN), for ``--metric FILE.py:function``,
and the labelled text images it is measured on.

The model's one output is time-major logits, T x 1 x classes per sample (class 0 is CTC's blank),
so the samples' outputs arrive stacked as (n * T) x 1 x classes; ``T_STEPS`` is T at the 64 x 256
input (one step per 8 columns). Labels are each sample's character classes, padded with -1.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

T_STEPS = 32
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
MAX_CHARS = 8


def _steps(outputs: dict) -> np.ndarray:
    """n x T argmax classes of the one output."""
    (logits,) = outputs.values()
    return logits.reshape(-1, T_STEPS, logits.shape[-1]).argmax(-1)


def _decode(steps: np.ndarray) -> tuple[int, ...]:
    """Greedy CTC decoding: collapse repeats, drop blanks."""
    keep = np.concatenate([[True], steps[1:] != steps[:-1]]) & (steps != 0)
    return tuple(int(c) for c in steps[keep])


def string_accuracy(outputs: dict, reference: dict, labels: np.ndarray | None) -> float:
    """The share of samples read exactly right (the labels), or, without labels, read as the original reads them."""
    got = [_decode(s) for s in _steps(outputs)]
    want = [tuple(int(c) for c in row if c >= 0) for row in labels] if labels is not None else \
        [_decode(s) for s in _steps(reference)]
    return float(np.mean([a == b for a, b in zip(got, want)]))


def charset(package_dir: Path) -> list[str]:
    """The recognizer's classes: ddddocr's beta charset, read from its source (no import: it needs OpenCV)."""
    src = (package_dir / "models" / "charset_manager.py").read_text(encoding="utf-8")
    start = src.index("[", src.index("return", src.index("def _get_beta_charset")))
    depth = 0
    for end in range(start, len(src)):
        depth += {"[": 1, "]": -1}.get(src[end], 0)
        if depth == 0:
            return ast.literal_eval(src[start:end + 1])
    raise ValueError("charset not found")


def text_images(n: int, seed: int, backgrounds: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """n captcha-like lines (n x 1 x 64 x 256 in [0, 1], as ddddocr feeds them) of 4 to 6 random
    characters drawn with PIL's default font over light photo crops, with their labels."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(classes)}
    images, labels = [], np.full((n, MAX_CHARS), -1, np.int64)
    for i in range(n):
        text = "".join(rng.choice(list(ALPHABET), int(rng.integers(4, 7))))
        paper = 0.75 + 0.25 * backgrounds[i % len(backgrounds)].mean(0)
        img = Image.fromarray((paper * 255).astype(np.uint8), "L")
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(0, 3))):  # noise strokes
            draw.line([tuple(rng.integers(0, (256, 64))) for _ in range(2)], fill=int(rng.integers(80, 160)), width=1)
        font = ImageFont.load_default(size=int(rng.integers(32, 44)))
        draw.text((int(rng.integers(2, 60)), int(rng.integers(2, 14))), text, fill=int(rng.integers(0, 70)), font=font)
        images.append(np.asarray(img, np.float32)[None] / 255.0)
        labels[i, :len(text)] = [index[c] for c in text]
    return np.stack(images), labels
