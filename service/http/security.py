"""The optional API key: when ``SEPCONV_API_KEY`` is set, every ``/v1`` route needs it.

Accepted as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; compared in constant time.
Health checks stay open so that Docker and load balancers can probe without the key; the API's
documentation (``/docs``, ``/redoc``, ``/openapi.json``) needs it too unless ``SEPCONV_OPEN_DOCS`` is set.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from ..errors import ApiError


async def require_api_key(request: Request) -> None:
    expected: str | None = request.app.state.services.settings.api_key
    if not expected:
        return
    given = request.headers.get("x-api-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if given is None:
        raise ApiError(401, "unauthorized", "this server needs an API key: send 'X-API-Key: KEY' "
                       "or 'Authorization: Bearer KEY'", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "wrong API key", headers={"WWW-Authenticate": "Bearer"})


async def require_api_key_for_docs(request: Request) -> None:
    if not request.app.state.services.settings.open_docs:
        await require_api_key(request)
