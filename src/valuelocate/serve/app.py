"""The HTTP face of the server: a FastAPI app speaking the OpenAI API.

Routes: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (both
with ``stream``). Bodies are parsed by :mod:`valuelocate.serve.schema`; the work (encoding,
the engine's jobs, streaming, the request log) is done by
:class:`~valuelocate.serve.service.Service`, and the answers are built by
:mod:`valuelocate.serve.responses`. Here: the routes, the API key and the errors' bodies.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from valuelocate.serve.engine import Engine
from valuelocate.serve.schema import ApiError, parse_chat, parse_completion, parse_json
from valuelocate.serve.service import Reply, ServeConfig, Service

__all__ = ["ServeConfig", "create_app"]

log = logging.getLogger("valuelocate.serve")


def create_app(engine: Engine, config: ServeConfig) -> FastAPI:
    """The FastAPI app serving ``engine``'s model and its steered aliases."""
    app = FastAPI(title="valuelocate serve", docs_url=None, redoc_url=None, openapi_url=None)
    service = Service(engine, config)
    catalog = engine.catalog

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ApiError(exc.status_code, str(exc.detail), code="not_found")
        return JSONResponse(error.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _server_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        error = ApiError(500, "Internal server error", code="server_error", kind="server_error")
        return JSONResponse(error.body(), status_code=500)

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Response:
        if config.api_key is not None:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {config.api_key}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                error = ApiError(
                    401,
                    "Missing or wrong API key (Authorization: Bearer ...)",
                    code="invalid_api_key",
                )
                return JSONResponse(error.body(), status_code=401)
        return await call_next(request)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return service.models()

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        start = time.perf_counter()
        req = parse_chat(
            parse_json(await request.body()),
            catalog,
            default_max_tokens=config.default_max_tokens,
            limit=config.max_tokens_limit,
        )
        return _reply(await service.chat(req, start))

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        start = time.perf_counter()
        req = parse_completion(
            parse_json(await request.body()),
            catalog,
            default_max_tokens=config.default_max_tokens,
            limit=config.max_tokens_limit,
        )
        return _reply(await service.completions(req, start))

    return app


def _reply(reply: Reply) -> Any:
    """A whole body as is (FastAPI answers it as JSON), a stream as server-sent events."""
    if isinstance(reply, dict):
        return reply
    return StreamingResponse(reply, media_type="text/event-stream")
