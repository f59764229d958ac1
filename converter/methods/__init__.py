"""The decompositions, by name. Adding one is adding a module and a line here.

``METHODS`` are the ones a user picks with ``--method``: exact at full rank. Tucker-2 and the
data-aware channel decomposition (``tucker2.py``, ``channel.py``) are candidates of auto mode
only: their single rank does not make them exact, and the channel one needs data.
"""

from __future__ import annotations

from .base import Emitted, Factorization, Method
from .depthwise import DepthwiseMethod, depthwise_factors, depthwise_svd
from .spatial import SpatialMethod, spatial_factors, spatial_svd

METHODS: dict[str, Method] = {m.name: m for m in (DepthwiseMethod(), SpatialMethod())}

__all__ = ["METHODS", "Emitted", "Factorization", "Method", "DepthwiseMethod", "SpatialMethod",
           "depthwise_factors", "depthwise_svd", "spatial_factors", "spatial_svd"]
