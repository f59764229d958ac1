"""The decompositions, by name. Adding one is adding a module and a line here."""

from __future__ import annotations

from .base import Emitted, Factorization, Method
from .depthwise import DepthwiseMethod, depthwise_factors, depthwise_svd
from .spatial import SpatialMethod, spatial_factors, spatial_svd

METHODS: dict[str, Method] = {m.name: m for m in (DepthwiseMethod(), SpatialMethod())}

__all__ = ["METHODS", "Emitted", "Factorization", "Method", "DepthwiseMethod", "SpatialMethod",
           "depthwise_factors", "depthwise_svd", "spatial_factors", "spatial_svd"]
