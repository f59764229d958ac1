"""Synthetic audio for the audio CNNs of the benchmark (no audio dataset ships in a package here).

``pitch_frames``: single 64 ms frames of harmonic tones at known pitches (60 Hz to 1 kHz, random
harmonic weights and phases, noise at 10 to 40 dB below), normalised as CREPE expects, with the
true frequency as the label. ``speechlike``: seconds of syllable-like sound (voiced stretches of
harmonics under random formants, with a wavering pitch, fricative-like noise, pauses) in noise
at random levels, for DNSMOS, whose scores spread over the range on them (1.0 to 4.2).
"""

from __future__ import annotations

import numpy as np

RATE = 16000


def pitch_frames(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n frames [n, 1024] (mean 0, std 1 each) and their pitches in Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(1024) / RATE
    f0 = 2.0 ** rng.uniform(np.log2(60.0), np.log2(1000.0), n)
    x = np.zeros((n, 1024))
    for i in range(n):
        for h in range(1, 12):
            if h * f0[i] < 7500:
                x[i] += rng.uniform(0, 1) / h * np.sin(2 * np.pi * h * f0[i] * t + rng.uniform(0, 2 * np.pi))
        x[i] += rng.standard_normal(1024) * 10 ** (-rng.uniform(10, 40) / 20) * x[i].std()
    x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-10)
    return x.astype(np.float32), f0


def speechlike(n: int, samples: int, seed: int) -> np.ndarray:
    """n clips of ``samples`` values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, samples), np.float32)
    for i in range(n):
        sig = np.zeros(samples)
        pos = 0
        while pos < samples:
            seg = np.arange(min(int(rng.uniform(0.08, 0.35) * RATE), samples - pos))
            sig[pos:pos + len(seg)] = _syllable(rng, seg) * np.sin(np.pi * np.linspace(0, 1, len(seg))) ** 0.5 \
                * rng.uniform(0.2, 1.0)
            pos += len(seg) + int(rng.uniform(0.0, 0.25) * RATE)
        sig /= np.abs(sig).max() + 1e-9
        noise = rng.standard_normal(samples) * 10 ** (-rng.uniform(5, 40) / 20)
        out[i] = np.clip(0.3 * sig + 0.3 * noise, -1, 1)
    return out


def _syllable(rng: np.random.Generator, seg: np.ndarray) -> np.ndarray:
    if rng.random() >= 0.75:  # fricative-like noise
        return rng.standard_normal(len(seg)) * 0.3
    f0 = rng.uniform(90, 260) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * seg / RATE))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    formants = rng.uniform([300, 900, 2200], [900, 2200, 3400])
    s = np.zeros(len(seg))
    for h in range(1, 30):
        fh = h * f0.mean()
        if fh > 7000:
            break
        s += (sum(np.exp(-((fh - f) / 200) ** 2) for f in formants) + 0.05) / h ** 0.5 * np.sin(h * phase)
    return s
