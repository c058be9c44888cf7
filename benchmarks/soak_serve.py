"""Soak test of `valuelocate serve`: many concurrent clients for minutes, then the books.

Usage:
    PYTHONPATH=src python benchmarks/soak_serve.py --model default --neurons RUN_DIR
        [--clients 32] [--minutes 10] [--max-tokens 24] [--max-batch 16] [--seed 0]
        [--json soak.json]

The server runs in this process on a free loopback port (``running_server``, uvicorn in a
thread; the clients are real HTTP clients, one thread each: the ``openai`` client for whole
answers, raw HTTP (``http.client``) for streams and broken bodies). Every client sends
requests one after the other until the time is up, each drawn at random (seeded):

- steering: none, one dimension, or two or three composed, under each rule the run serves
  (``dynamic`` and ``random_control``; ``mean-diff`` and ``mean-diff-control`` on a run with
  a verdict), at a few sizes and both signs;
- chat or text completion, streamed or not, greedy or seeded sampling;
- about 5% disconnect early (a stream closed after its first token, or a whole answer
  abandoned after 0.3 s), about 3% are bad requests (bad JSON, unknown dimension, gamma out of
  range, unknown rule or model, too many tokens) that must get their 4xx.

The books: every answered request's id is unique and appears exactly once in the server's
request log (nothing lost, nothing duplicated), every stream ends once with ``[DONE]``, no 5xx
(nor an error event inside a stream), every bad request got its 4xx, no request left waiting,
no hook left on the model. Reported: requests by outcome, p50/p90/p99 latency (whole answers)
and time to first token (streams), generated tokens per second, the process's RSS at minute 1
and at the end (growth after warm-up; the clients share the process, their share is small and
flat). Exit status 1 when a check fails. ``tests/serve/test_soak.py`` runs the same code for a
minute with a few clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import random
import statistics
import threading
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai

from valuelocate.hooks import count_hooks
from valuelocate.serve.server import ServerParts, running_server

PROMPTS = [
    "Tell me a short story about a cat.",
    "What should I do on a rainy day?",
    "Describe your favourite meal.",
    "How do I make friends in a new town?",
    "Why do people like music?",
    "Should I help my neighbour move house?",
    "Once upon a time",
    "Write two sentences about the sea.",
]
SIZES = (0.5, 1.0, 1.5)


@dataclass
class Outcome:
    """One client request: what was sent and what came back."""

    client_id: str
    kind: str  # "answer", "disconnect" or "bad"
    stream: bool
    expected: int  # the status it should get
    status: int = 0  # what it got (0: no response: a client-side error)
    response_id: str | None = None
    latency: float = 0.0
    ttft: float | None = None
    tokens: int = 0
    problem: str | None = None  # what went wrong, if anything


@dataclass
class SoakReport:
    """The soak's figures and checks (see the module docstring)."""

    clients: int
    seconds: float
    requests: int = 0
    answered: int = 0
    disconnected: int = 0
    bad: int = 0
    server_errors: int = 0  # 5xx responses and error events in streams
    unexpected: int = 0  # wrong status, broken stream, client-side error
    lost: int = 0  # answered ids missing from the server's log
    duplicated: int = 0  # ids answered or logged more than once
    hooks_left: int = 0
    held_at_end: int = 0
    latency_s: dict[str, float] = field(default_factory=dict)
    ttft_s: dict[str, float] = field(default_factory=dict)
    tokens_per_s: float = 0.0
    rss_mb: dict[str, float] = field(default_factory=dict)
    rss_growth: float | None = None
    largest_batch: int = 0
    steering_cache: dict[str, int] = field(default_factory=dict)
    admission_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # by cache outcome
    problems: list[str] = field(default_factory=list)

    def failures(self, max_rss_growth: float | None = None) -> list[str]:
        """The checks that failed (empty: all green)."""
        out = []
        for name in ("server_errors", "unexpected", "lost", "duplicated", "hooks_left"):
            if getattr(self, name):
                out.append(f"{name} = {getattr(self, name)}")
        if self.held_at_end:
            out.append(f"{self.held_at_end} requests still held at the end")
        if self.answered == 0:
            out.append("no request was answered")
        growth = self.rss_growth
        if max_rss_growth is not None and growth is not None and growth > max_rss_growth:
            out.append(
                f"RSS grew {100 * growth:.1f}% after warm-up (limit {100 * max_rss_growth}%)"
            )
        return out


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": statistics.median(ordered), "p90": at(0.9), "p99": at(0.99), "n": len(ordered)}


def rss_mb() -> float:
    """This process's resident memory (Linux /proc), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _LogIds(logging.Handler):
    """Collects the request ids of the server's per-request log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's own lock
        message = record.getMessage()
        if message.startswith(("chatcmpl-", "cmpl-")):
            self.lines.append(message)


@dataclass(frozen=True)
class Mix:
    """How requests are drawn: the share of bad requests and of early disconnects."""

    bad: float = 0.03
    disconnect: float = 0.05


def _request(  # type: ignore[no-untyped-def]
    rng: random.Random, name: str, dims: list[str], rules: list[str], max_tokens: int, mix: Mix
):
    """A random request: (path, body or raw bytes, expected status, kind, stream)."""
    chat = rng.random() < 0.6
    stream = rng.random() < 0.4
    body: dict[str, Any] = {"model": name, "max_tokens": rng.randint(2, max_tokens)}
    prompt = rng.choice(PROMPTS)
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if rng.random() < 0.7:
        body["temperature"] = 0
    else:
        body |= {"temperature": 0.8, "seed": rng.randint(0, 99)}
    shape = rng.random()
    if shape >= 0.25:  # steered: one dimension, or two or three composed
        count = 1 if shape < 0.65 else rng.randint(2, min(3, len(dims)))
        chosen = rng.sample(dims, count)
        body["values"] = {d: rng.choice(SIZES) * rng.choice((1, -1)) for d in chosen}
        body["rule"] = rng.choice(rules)
    if stream:
        body["stream"] = True
    path = "/chat/completions" if chat else "/completions"
    bad = rng.random()
    if bad < mix.bad:
        cases: list[tuple[Any, int]] = [
            (b"{not json", 400),
            ({**body, "values": {"no_such_dimension": 1.0}}, 400),
            ({**body, "values": {dims[0]: 1e6}}, 400),
            ({**body, "rule": "no-such-rule", "values": {dims[0]: 1.0}}, 400),
            ({**body, "model": "no-such-model"}, 404),
            ({**body, "max_tokens": 10**7}, 400),
        ]
        sent, status = rng.choice(cases)
        return path, sent, status, "bad", False
    kind = "disconnect" if rng.random() < mix.disconnect else "answer"
    return path, body, 200, kind, stream


def _send(
    api: openai.OpenAI,
    base: urllib.parse.SplitResult,
    path: str,
    sent: Any,
    expected: int,
    kind: str,
    stream: bool,
) -> Outcome:
    """Send one request: whole answers through the ``openai`` client, streams and bad
    requests as raw HTTP (to see every byte of a stream, and to send broken bodies)."""
    outcome = Outcome(uuid.uuid4().hex[:12], kind, stream, expected)
    start = time.perf_counter()
    try:
        if stream or kind == "bad":
            _raw(base, path, sent, outcome, start)
        else:
            _whole(api, path, sent, outcome)
    except Exception as exc:  # a client-side failure is a finding, not a crash of the soak
        outcome.problem = f"{type(exc).__name__}: {exc}"
    outcome.latency = time.perf_counter() - start
    if outcome.problem is None and outcome.status != expected and outcome.kind != "disconnect":
        outcome.problem = f"status {outcome.status}, expected {expected}"
    return outcome


def _whole(api: openai.OpenAI, path: str, body: dict[str, Any], outcome: Outcome) -> None:
    known = ("model", "max_tokens", "temperature", "seed", "messages", "prompt")
    args = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    client = api.with_options(timeout=0.3) if outcome.kind == "disconnect" else api
    try:
        if path == "/chat/completions":
            reply: Any = client.chat.completions.create(**args, extra_body=extra)
        else:
            reply = client.completions.create(**args, extra_body=extra)
    except openai.APITimeoutError:
        if outcome.kind == "disconnect":
            return  # the client gave up, as planned
        raise
    except openai.APIStatusError as error:
        outcome.status = error.status_code
        return
    outcome.status = 200
    outcome.response_id = reply.id
    outcome.tokens = reply.usage.completion_tokens if reply.usage else 0
    if outcome.kind == "disconnect":
        outcome.kind = "answer"  # it came back before the client gave up


def _raw(
    base: urllib.parse.SplitResult, path: str, sent: Any, outcome: Outcome, start: float
) -> None:
    raw = sent if isinstance(sent, bytes) else json.dumps(sent).encode()
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=300)
    try:
        conn.request("POST", base.path + path, raw, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        outcome.status = reply.status
        if reply.status != 200 or not outcome.stream:
            reply.read()
            return
        _read_stream(reply, outcome, start)
    finally:
        conn.close()  # mid-stream, this is the client going away


def _read_stream(reply: http.client.HTTPResponse, outcome: Outcome, start: float) -> None:
    ids, finishes, done = set(), 0, False
    for raw_line in reply:
        line = raw_line.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line.removeprefix("data: ")
        if data == "[DONE]":
            done = True
            continue
        chunk = json.loads(data)
        if "error" in chunk:
            outcome.status = 500
            outcome.problem = f"error event: {chunk['error'].get('message')}"
            return
        ids.add(chunk["id"])
        choice = chunk["choices"][0]
        text = choice.get("text") or (choice.get("delta") or {}).get("content")
        if text and outcome.ttft is None:
            outcome.ttft = time.perf_counter() - start
            if outcome.kind == "disconnect":
                return  # the caller closes the connection mid-stream
        if choice.get("finish_reason") is not None:
            finishes += 1
            outcome.tokens = (chunk.get("usage") or {}).get("completion_tokens", 0)
    if outcome.kind == "disconnect":
        outcome.kind = "answer"  # the stream ended before its first token was read
    if len(ids) != 1 or finishes != 1 or not done:
        outcome.problem = f"broken stream: ids {len(ids)}, endings {finishes}, [DONE] {done}"
    outcome.response_id = next(iter(ids), None)


def run_soak(
    parts: ServerParts,
    *,
    clients: int = 32,
    seconds: float = 600.0,
    max_tokens: int = 24,
    seed: int = 0,
    warmup: float = 60.0,
    request_timeout: float = 300.0,
    mix: Mix = Mix(),
) -> SoakReport:
    """Serve ``parts`` on loopback under ``clients`` concurrent clients for ``seconds``
    (requests drawn by ``mix``); the RSS growth is measured from ``warmup`` seconds on."""
    engine = parts.engine
    catalog = engine.catalog
    name = catalog.base_name
    dims = list(catalog.sets)
    rules = catalog.rules()
    report = SoakReport(clients, seconds)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    samples: list[tuple[float, float]] = []
    handler = _LogIds()
    logger = logging.getLogger("valuelocate.serve")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    hits0, misses0 = catalog.cache_hits, catalog.cache_misses
    try:
        with running_server(parts) as server:
            start = time.perf_counter()
            deadline = start + seconds
            stop = threading.Event()

            def client(index: int) -> None:
                rng = random.Random(seed * 1000 + index)
                base = urllib.parse.urlsplit(server.base_url)
                with openai.OpenAI(
                    base_url=server.base_url, api_key="x", max_retries=0, timeout=request_timeout
                ) as api:
                    while time.perf_counter() < deadline:
                        path, sent, expected, kind, stream = _request(
                            rng, name, dims, rules, max_tokens, mix
                        )
                        outcome = _send(api, base, path, sent, expected, kind, stream)
                        with lock:
                            outcomes.append(outcome)

            def monitor() -> None:
                while not stop.wait(5.0):
                    samples.append((time.perf_counter() - start, rss_mb()))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            watcher = threading.Thread(target=monitor, daemon=True)
            watcher.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=seconds + request_timeout + 60)
            elapsed = time.perf_counter() - start
            stop.set()
            samples.append((elapsed, rss_mb()))
            settle = time.monotonic() + 60
            while engine.held and time.monotonic() < settle:
                time.sleep(0.05)
            report.held_at_end = engine.held
            while count_hooks(engine.lm.model) and time.monotonic() < settle:
                time.sleep(0.05)
            report.hooks_left = count_hooks(engine.lm.model)
            report.largest_batch = engine.stats.largest_batch
            time.sleep(0.5)  # the last streams' log lines are written as their bodies close
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    _books(report, outcomes, handler.lines, elapsed)
    report.steering_cache = {
        "hits": catalog.cache_hits - hits0,
        "misses": catalog.cache_misses - misses0,
    }
    after = [mb for t, mb in samples if t >= warmup]
    report.rss_mb = {"minute_1": after[0] if after else samples[0][1], "end": samples[-1][1]}
    report.rss_mb["max"] = max(mb for _, mb in samples)
    if after and len(samples) > 1:
        report.rss_growth = report.rss_mb["end"] / report.rss_mb["minute_1"] - 1
    return report


def _books(report: SoakReport, outcomes: list[Outcome], lines: list[str], elapsed: float) -> None:
    """Count the outcomes and match the answered ids against the server's log."""
    report.seconds = elapsed
    report.requests = len(outcomes)
    answered = [o for o in outcomes if o.kind == "answer" and o.problem is None]
    report.answered = len(answered)
    report.disconnected = sum(o.kind == "disconnect" and o.problem is None for o in outcomes)
    report.bad = sum(o.kind == "bad" and o.problem is None for o in outcomes)
    report.server_errors = sum(o.status >= 500 for o in outcomes)
    troubled = [o for o in outcomes if o.problem is not None]
    report.unexpected = len(troubled)
    report.problems = sorted({o.problem for o in troubled if o.problem})[:20]
    logged: dict[str, int] = {}
    for line in lines:
        rid = line.split()[0]
        logged[rid] = logged.get(rid, 0) + 1
    answered_ids: dict[str, int] = {}
    for o in answered:
        if o.response_id is not None:
            answered_ids[o.response_id] = answered_ids.get(o.response_id, 0) + 1
    report.lost = sum(o.response_id is None for o in answered)
    report.lost += sum(1 for rid in answered_ids if rid not in logged)
    report.duplicated = sum(n - 1 for n in answered_ids.values()) + sum(
        n - 1 for n in logged.values()
    )
    by_cache: dict[str, list[float]] = {}
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "admission" in fields:
            ms = float(fields["admission"].removesuffix("ms"))
            by_cache.setdefault(fields.get("steering_cache", "?"), []).append(ms)
    report.admission_ms = {cache: percentiles(ms) for cache, ms in sorted(by_cache.items())}
    report.latency_s = percentiles([o.latency for o in answered if not o.stream])
    report.ttft_s = percentiles([o.ttft for o in answered if o.stream and o.ttft is not None])
    report.tokens_per_s = sum(o.tokens for o in answered) / elapsed if elapsed else 0.0


def print_report(report: SoakReport, max_rss_growth: float | None) -> None:
    print(
        f"\n{report.clients} clients, {report.seconds:.0f} s: {report.requests} requests "
        f"({report.answered} answered, {report.disconnected} disconnected on purpose, "
        f"{report.bad} bad with their 4xx); largest batch {report.largest_batch}; steering "
        f"cache {report.steering_cache}"
    )
    print("| check | value |\n|---|---:|")
    for key in ("server_errors", "unexpected", "lost", "duplicated", "hooks_left", "held_at_end"):
        print(f"| {key} | {getattr(report, key)} |")
    for label, values in (
        ("latency s", report.latency_s),
        ("time to first token s", report.ttft_s),
    ):
        if values:
            print(
                f"| {label} p50 / p90 / p99 (n={values['n']:.0f}) | {values['p50']:.3f} / "
                f"{values['p90']:.3f} / {values['p99']:.3f} |"
            )
    print(f"| generated tokens/s | {report.tokens_per_s:.1f} |")
    for cache, ms in report.admission_ms.items():
        print(
            f"| admission ms, steering cache {cache}, p50 / p99 (n={ms['n']:.0f}) | "
            f"{ms['p50']:.3f} / {ms['p99']:.3f} |"
        )
    rss = report.rss_mb
    growth = "n/a" if report.rss_growth is None else f"{100 * report.rss_growth:+.1f}%"
    print(
        f"| RSS MB at minute 1 / end / max | {rss.get('minute_1', 0):.0f} / "
        f"{rss.get('end', 0):.0f} / {rss.get('max', 0):.0f} ({growth}) |"
    )
    failed = report.failures(max_rss_growth)
    print("\nall green" if not failed else "\nFAILED: " + "; ".join(failed))
    for problem in report.problems:
        print(f"  problem: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--neurons", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--max-rss-growth", type=float, default=0.05)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()

    import torch
    from serve_setup import small_run

    from valuelocate.models import load_model
    from valuelocate.serve import build_server

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model)
    neurons = args.neurons
    if neurons is None:
        neurons = small_run(lm, args.model, "soak-serve-")
    parts = build_server(
        lm, neurons, name="soak", max_batch=args.max_batch, max_queue=4 * args.clients + 16
    )
    print(
        f"soak: model {args.model}, run {neurons}, rules {parts.engine.catalog.rules()}, "
        f"{args.clients} clients, {args.minutes} min, torch threads {torch.get_num_threads()}",
        flush=True,
    )
    report = run_soak(
        parts,
        clients=args.clients,
        seconds=60 * args.minutes,
        max_tokens=args.max_tokens,
        seed=args.seed,
    )
    print_report(report, args.max_rss_growth)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    return 1 if report.failures(args.max_rss_growth) else 0


if __name__ == "__main__":
    raise SystemExit(main())
