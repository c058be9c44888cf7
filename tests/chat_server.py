"""A real OpenAI-compatible chat-completions server on loopback, for tests.

It listens on ``127.0.0.1`` on a free port, in a thread, and answers
``POST {base}/chat/completions`` in one of two modes:

- **model**: completions come from a local transformers model (any object with the
  :class:`valuelocate.data.generate.Backend` method ``complete``);
- **script**: a list of canned replies, served in order (the last one repeats), each either a
  completion text or an HTTP status with a body, for the client's retry and error paths.

Usage:
    >>> with serve(script=[Reply(text='[{"text": "..."}]')], api_key="k") as server:
    ...     backend = OpenAIBackend(model="m", base_url=server.base_url, api_key="k")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a completion ``text`` (HTTP 200), or an error ``status`` with
    ``body``; sent after ``delay`` seconds (to leave time for killing a client)."""

    text: str = ""
    status: int = 200
    body: str = ""
    delay: float = 0.0


@dataclass
class ChatServer:
    """The running server's state: where it listens and what it received.

    Attributes:
        base_url: the API root to give the client (``http://127.0.0.1:PORT/v1``).
        requests: the decoded JSON bodies received, in order.
        auth_headers: the ``Authorization`` headers received, in order.
    """

    base_url: str
    backend: Any = None
    script: list[Reply] = field(default_factory=list)
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        """The reply to ``body``: the model's completion, or the next scripted reply."""
        with self._lock:
            self.requests.append(body)
            if self.backend is None:
                index = min(len(self.requests) - 1, len(self.script) - 1)
                return self.script[index]
            texts = self.backend.complete(
                body["messages"],
                temperature=float(body.get("temperature", 1.0)),
                max_tokens=int(body.get("max_tokens", 64)),
                n=int(body.get("n", 1)),
                seed=body.get("seed"),
            )
            return Reply(text=texts[0] if texts else "")


class _QuietServer(ThreadingHTTPServer):
    """Tests kill clients mid-request; a client that hung up is not an error worth a trace."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _handler(state: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _send(self, status: int, payload: str) -> None:
            data = payload.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            auth = self.headers.get("Authorization")
            state.auth_headers.append(auth)
            if not self.path.endswith("/v1/chat/completions"):
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                return
            if state.api_key is not None and auth != f"Bearer {state.api_key}":
                # Echo what was sent, as careless servers do: the client must redact it.
                message = f"Incorrect API key provided: {auth}"
                self._send(401, json.dumps({"error": {"message": message}}))
                return
            reply = state.next_reply(body)
            time.sleep(reply.delay)
            if reply.status != 200:
                self._send(reply.status, reply.body)
                return
            choice = {"index": 0, "message": {"role": "assistant", "content": reply.text}}
            payload = {"object": "chat.completion", "model": body.get("model"), "choices": [choice]}
            self._send(200, json.dumps(payload))

    return Handler


@contextmanager
def serve(
    *, script: list[Reply] | None = None, backend: Any = None, api_key: str | None = None
) -> Iterator[ChatServer]:
    """Run the server for the duration of the ``with`` block.

    Args:
        script: canned replies (script mode).
        backend: an object with ``complete(messages, *, temperature, max_tokens, n, seed)``
            (model mode); used when given.
        api_key: the key the server requires; ``None`` accepts any request.

    Returns:
        A context manager yielding the :class:`ChatServer`.
    """
    if backend is None and not script:
        raise ValueError("give a script or a backend")
    state = ChatServer(base_url="", backend=backend, script=list(script or []), api_key=api_key)
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
