"""Auto mode: per-layer method and rank chosen from data and measured latency, within a budget.

``convert_auto`` is the strategy the conversion job (``converter.job``) runs for
``method="auto"``. Modules, one idea each: ``split`` (fitting and held-out data),
``activations`` (layer inputs from a real run), ``candidates`` (every method's rewrites of one
layer, scored), ``refit`` (least squares), ``latency`` (measured, cached), ``fitting`` (the
per-layer candidates, fit and timed), ``allocate`` (the trade-off path and model scoring),
``search`` (the longest prefix within the budget), ``section`` (the report's part),
``pipeline`` (the strategy, phase by phase), ``plot``.
"""

from __future__ import annotations

from .pipeline import AUTO_SHARES, AutoOutcome, convert_auto

__all__ = ["AUTO_SHARES", "AutoOutcome", "convert_auto"]
