"""The server's parts in process, without uvicorn: the routes of :mod:`valuelocate.serve.app`
over a :class:`~valuelocate.serve.service.ServeConfig` (API key, model list), the engine's
limits (:mod:`valuelocate.serve.engine`) and the scoring pass of
:mod:`valuelocate.serve.decode` recomputed from the model's logits."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from fastapi.testclient import TestClient

import serve_fixtures as fx
from valuelocate.serve import build_server
from valuelocate.serve.app import create_app
from valuelocate.serve.engine import Engine
from valuelocate.serve.scoring import score
from valuelocate.serve.service import ServeConfig

lm, run_dir = fx.lm, fx.run_dir  # the shared fixtures

pytestmark = fx.needs_stories


def test_routes_check_the_key_and_list_the_models(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    parts = build_server(lm, run_dir, name=fx.NAME)
    config = dataclasses.replace(parts.config, api_key="sk-app")
    assert isinstance(config, ServeConfig)
    client = TestClient(create_app(parts.engine, config))
    refused = client.get("/v1/models")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    listed = client.get("/v1/models", headers={"Authorization": "Bearer sk-app"})
    assert listed.status_code == 200
    assert fx.NAME in [m["id"] for m in listed.json()["data"]]
    missing = client.get("/v1/nowhere", headers={"Authorization": "Bearer sk-app"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_engine_limits_are_checked(lm, run_dir) -> None:  # type: ignore[no-untyped-def]
    catalog = build_server(lm, run_dir, name=fx.NAME).engine.catalog
    with pytest.raises(ValueError, match="at least 1"):
        Engine(lm, catalog, max_batch=0)


def test_score_is_the_models_log_softmax(lm) -> None:  # type: ignore[no-untyped-def]
    ids = [1, 400, 401, 402]
    scored = score(lm, ids, edit=None, scope="all", site="act", top_k=2)
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    assert scored.token_ids == ids and scored.logprobs[0] is None and scored.top[0] is None
    for pos in range(1, len(ids)):
        assert scored.logprobs[pos] == pytest.approx(float(logp[pos - 1, ids[pos]]))
        assert len(scored.top[pos] or {}) == 2
