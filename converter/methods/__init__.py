"""The decompositions, by name. Adding one is adding a module and a line here."""

from __future__ import annotations

from .base import Emitted, Factorization, Method
from .channel import ChannelMethod
from .depthwise import DepthwiseMethod, depthwise_factors, depthwise_svd
from .spatial import SpatialMethod, spatial_factors, spatial_svd
from .tucker2 import Tucker2Method

METHODS: dict[str, Method] = {m.name: m for m in (DepthwiseMethod(), SpatialMethod(), Tucker2Method(),
                                                  ChannelMethod())}

__all__ = ["METHODS", "Emitted", "Factorization", "Method", "DepthwiseMethod", "SpatialMethod", "Tucker2Method",
           "ChannelMethod", "depthwise_factors", "depthwise_svd", "spatial_factors", "spatial_svd"]
