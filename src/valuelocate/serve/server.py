"""Assembling and running a server: model + neuron run -> engine -> app -> uvicorn.

``serve_forever`` is what the ``valuelocate serve`` command runs; ``running_server`` starts the
same server in a thread on a free loopback port, for tests, benchmarks and notebooks.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from valuelocate.architectures import model_shape
from valuelocate.artifacts import load_neuron_sets, read_json
from valuelocate.artifacts.neurons import resolve_neurons
from valuelocate.artifacts.verdict import VERDICT_DIR, load_default_edits
from valuelocate.models import LoadedModel, load_model
from valuelocate.serve.app import ServeConfig, create_app
from valuelocate.serve.engine import Engine
from valuelocate.serve.steering import SteeringCatalog, VerdictEdits
from valuelocate.steering.rules import default_served_rule

log = logging.getLogger("valuelocate.serve")


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, has_key: bool, allow_remote: bool) -> str | None:
    """Refuse a non-loopback ``host`` without a key unless ``allow_remote``; return the
    warning to print for a non-loopback bind (``None`` on loopback)."""
    if is_loopback(host):
        return None
    if not has_key and not allow_remote:
        raise ValueError(
            f"--host {host} is not a loopback address: anyone who can reach it could use "
            "the model. Set --api-key-env, or pass --allow-remote to serve without a key."
        )
    return f"Serving on {host}, reachable from other machines" + (
        " (API key required)" if has_key else " WITHOUT an API key: anyone can use the model"
    )


def served_name(model_id: str) -> str:
    """The base model name clients use: ``default`` stays, a folder gives its last part."""
    return Path(model_id).name if Path(model_id).exists() else model_id


def build_catalog(
    lm: LoadedModel, neurons: str | Path, *, name: str, max_gamma: float, alias_gamma: float
) -> SteeringCatalog:
    """Read a neuron run for ``lm``: its sets, the site it located at, its edit rule."""
    run = resolve_neurons(neurons)  # a Hub id becomes its downloaded folder
    sets = load_neuron_sets(run, expect=model_shape(lm.model))
    options = {}
    if (run / "manifest.json").is_file():
        options = read_json(run / "manifest.json").get("options", {})
    site = options.get("site", "act")
    verdict = verdict_edits(run if run.is_dir() else run.parent, site)
    # A run with a verdict steers by default as its verdict did (the default steering).
    rule = options.get("rule", default_served_rule(bool(verdict)))
    catalog = SteeringCatalog(
        base_name=name,
        sets=sets,
        site=site,
        default_rule=rule,
        max_gamma=max_gamma,
        alias_gamma=alias_gamma,
        verdict_edits=verdict,
    )
    if rule not in catalog.rules():
        raise ValueError(f"The run names edit rule {rule!r}, which serve does not know")
    return catalog


def verdict_edits(run_dir: Path, site: str) -> VerdictEdits:
    """The run's verdict edits and calibrated gammas (empty without a verdict, or when the
    verdict edited another site than the run's neurons: one batch edits one site)."""
    if not (run_dir / VERDICT_DIR / "edits.safetensors").is_file():
        return {}
    edits = load_default_edits(run_dir)
    sites = {edit.site for edit, _ in edits.values()}
    if sites - {site}:
        log.warning("The verdict's edits are at %s, the run's neurons at %s: the mean-diff "
                    "rules are off", ", ".join(sorted(sites)), site)  # fmt: skip
        return {}
    return edits


@dataclass
class ServerParts:
    engine: Engine
    config: ServeConfig


def build_server(
    lm: LoadedModel,
    neurons: str | Path,
    *,
    name: str | None = None,
    api_key: str | None = None,
    log_text: bool = False,
    max_batch: int = 8,
    max_queue: int = 64,
    max_gamma: float = 4.0,
    alias_gamma: float = 1.0,
    default_max_tokens: int = 64,
    max_tokens_limit: int = 1024,
    tie_margin: float = 1e-3,
) -> ServerParts:
    """The engine (not started) and the app settings for ``lm`` steered by ``neurons``."""
    catalog = build_catalog(
        lm,
        neurons,
        name=name or served_name(lm.model_id),
        max_gamma=max_gamma,
        alias_gamma=alias_gamma,
    )
    engine = Engine(lm, catalog, max_batch=max_batch, max_queue=max_queue, tie_margin=tie_margin)
    positions = getattr(lm.model.config, "max_position_embeddings", None) or 2048
    config = ServeConfig(
        api_key=api_key,
        log_text=log_text,
        default_max_tokens=default_max_tokens,
        max_tokens_limit=max_tokens_limit,
        context_limit=int(positions),
    )
    return ServerParts(engine, config)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A server running in this process: ``base_url`` ends in ``/v1``."""

    base_url: str
    engine: Engine


@contextmanager
def running_server(parts: ServerParts, *, host: str = "127.0.0.1") -> Iterator[RunningServer]:
    """Run ``parts`` with uvicorn in a thread on a free port until the block ends."""
    port = free_port(host)
    app = create_app(parts.engine, parts.config)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    parts.engine.start()
    thread = threading.Thread(target=server.run, name="valuelocate-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The server did not start")
            time.sleep(0.02)
        yield RunningServer(f"http://{host}:{port}/v1", parts.engine)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        parts.engine.close()


def serve_forever(
    model: str,
    neurons: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_remote: bool = False,
    device: str | None = None,
    dtype: str = "float32",
    on_ready: Callable[[], None] | None = None,
    **options: object,
) -> None:
    """Load ``model``, read ``neurons`` and serve until interrupted (the CLI's body).

    A non-loopback ``host`` without an API key is refused unless ``allow_remote``; with it
    the server warns that anyone who can reach the port can use the model. ``on_ready`` is
    called once the model and the neuron sets are read, before the port opens.
    """
    warning = check_bind(host, options.get("api_key") is not None, allow_remote)
    if warning:
        log.warning(warning)
    lm = load_model(model, device=device, dtype=dtype)
    parts = build_server(lm, neurons, **options)  # type: ignore[arg-type]
    app = create_app(parts.engine, parts.config)
    parts.engine.start()
    if on_ready is not None:
        on_ready()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        parts.engine.close()
