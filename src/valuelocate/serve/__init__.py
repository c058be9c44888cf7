"""``valuelocate serve``: an OpenAI-compatible server of a value-steered model.

The steering is chosen per request (``values`` in the body, or a model alias such as
``default+conservation:affirm``); concurrent requests with different steering share one batch,
an edit per row. Modules: :mod:`.steering` (values -> edits, by the steering rules),
:mod:`.decode` (the forward passes), :mod:`.engine` (the queue and the batching thread),
:mod:`.schema` (request checks), :mod:`.service` (the work behind the routes),
:mod:`.responses` (the answers' bodies), :mod:`.app` (the FastAPI routes), :mod:`.server`
(assembly).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from valuelocate.serve.app import ServeConfig, create_app
    from valuelocate.serve.engine import Engine, EngineStats, QueueFull
    from valuelocate.serve.server import build_server, running_server, serve_forever
    from valuelocate.serve.steering import RULES, Steering, SteeringCatalog

# name -> module: loaded on first use, so that the command line (which reads ServeOptions from
# serve.options at start-up) does not import fastapi and uvicorn for every command.
_LAZY = {
    "ServeConfig": "app",
    "create_app": "app",
    "Engine": "engine",
    "EngineStats": "engine",
    "QueueFull": "engine",
    "build_server": "server",
    "running_server": "server",
    "serve_forever": "server",
    "RULES": "steering",
    "Steering": "steering",
    "SteeringCatalog": "steering",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"valuelocate.serve.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RULES",
    "Engine",
    "EngineStats",
    "QueueFull",
    "ServeConfig",
    "Steering",
    "SteeringCatalog",
    "build_server",
    "create_app",
    "running_server",
    "serve_forever",
]
