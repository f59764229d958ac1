"""Task metrics of the benchmark's audio CNNs, as ``--metric FILE.py:function`` takes them.

``raw_pitch_accuracy``: the share of frames whose pitch (the centre of CREPE's best bin) is within
50 cents of the true pitch in ``labels`` (the standard RPA of pitch tracking). ``mos_agreement``:
minus the mean absolute difference of DNSMOS's three scores (SIG, BAK, OVRL, on its 1-5 scale)
from the original model's; the original scores 0, so the drop is that mean difference.
"""

from __future__ import annotations

import numpy as np

#: CREPE's first bin, in cents above 10 Hz; bins are 20 cents apart
CENTS_BIN0 = 1997.3794084376191


def raw_pitch_accuracy(outputs: dict, reference: dict, labels) -> float:
    probs = next(iter(outputs.values()))
    cents = 20.0 * np.argmax(probs.reshape(len(probs), -1), axis=1) + CENTS_BIN0
    true = 1200.0 * np.log2(np.asarray(labels, np.float64) / 10.0)
    return float(np.mean(np.abs(cents - true) <= 50.0))


def mos_agreement(outputs: dict, reference: dict, labels) -> float:
    got, want = next(iter(outputs.values())), next(iter(reference.values()))
    return -float(np.mean(np.abs(np.asarray(got, np.float64) - want)))
