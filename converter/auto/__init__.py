"""Auto mode: per-layer method and rank chosen from data and measured latency, within a budget.

``convert_auto_file`` is what ``convert_file`` calls for ``method="auto"``. Modules, one idea
each: ``activations`` (layer inputs from a real run), ``candidates`` (the rewrites of one
layer), ``latency`` (measured, cached), ``refit`` (least squares), ``allocate`` (the
trade-off and its search), ``pipeline`` (the whole job and its report), ``plot``.
"""

from __future__ import annotations

from .pipeline import convert_auto_file

__all__ = ["convert_auto_file"]
