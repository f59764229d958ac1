"""The decompositions, by name: one registry for ``--method`` and for auto mode.

Adding a decomposition is adding a module that implements :class:`~.base.Method` and a line
here. ``METHODS`` are the ones a user picks with ``--method``: exact at full rank. Tucker-2 and
the data-aware channel decomposition are candidates of auto mode only: their single rank does
not make them exact, and the channel one needs data.
"""

from __future__ import annotations

from .base import Candidate, Emitted, Factorization, Method, emitted_params
from .channel import ChannelMethod
from .depthwise import DepthwiseMethod, depthwise_factors, depthwise_svd
from .spatial import SpatialMethod, spatial_factors, spatial_svd
from .tucker2 import Tucker2Method

#: Every decomposition, in the order auto mode offers their candidates.
REGISTRY: dict[str, Method] = {m.name: m for m in (SpatialMethod(), DepthwiseMethod(), Tucker2Method(),
                                                   ChannelMethod())}
#: The exact ones, which ``--method`` offers (by name).
METHODS: dict[str, Method] = {name: m for name, m in sorted(REGISTRY.items()) if m.exact}

__all__ = ["METHODS", "REGISTRY", "Candidate", "Emitted", "Factorization", "Method", "emitted_params",
           "depthwise_factors", "depthwise_svd", "spatial_factors", "spatial_svd"]
