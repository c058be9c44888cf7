"""A real OpenAI-compatible chat-completions server on loopback that misbehaves on purpose.

It listens on ``127.0.0.1`` on a free port, in a thread, and answers
``POST {base}/chat/completions`` in one of two modes:

- **model**: completions come from a local model (any object with the
  :class:`valuelocate.llm.Backend` method ``complete``);
- **script**: a list of :class:`Reply`, served in order (the last one repeats). A reply is a
  completion text, an HTTP error, or one of the faults in :data:`FAULTS`: an answer later than
  the client's timeout, a 429 with ``Retry-After``, a 500 or 503, a connection reset, a body
  that is not JSON, an empty ``choices``, a body cut short, a body trickled slower than the
  client's total timeout, another model's name.

Usage:
    >>> with serve(script=[Reply(fault="reset"), Reply(text="4")]) as server:
    ...     backend = OpenAIBackend(model="m", base_url=server.base_url)
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a scripted reply may do instead of answering well.
FAULTS: tuple[str, ...] = ("reset", "malformed", "empty_choices", "truncate", "trickle")


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        text: the completion's text (HTTP 200).
        status: an HTTP error status to send instead, with ``body``.
        body: the error's body.
        delay: seconds to wait before answering (past the client's timeout: a timeout).
        headers: extra response headers (``Retry-After`` ...).
        fault: one of :data:`FAULTS`, or ``None``.
        model: the model name the answer gives; the requested one when ``None``.
    """

    text: str = ""
    status: int = 200
    body: str = ""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}")


@dataclass
class ChatServer:
    """The running server's state: where it listens and what it received.

    Attributes:
        base_url: the API root to give the client (``http://127.0.0.1:PORT/v1``).
        requests: the decoded JSON bodies received, in order.
        auth_headers: the ``Authorization`` headers received, in order.
        times: ``time.monotonic()`` at each request's arrival.
    """

    base_url: str
    backend: Any = None
    script: list[Reply] = field(default_factory=list)
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        """The reply to ``body``: the model's completion, or the next scripted reply."""
        with self._lock:
            self.requests.append(body)
            if self.backend is None:
                return self.script[min(len(self.requests), len(self.script)) - 1]
            texts = self.backend.complete(
                body["messages"],
                temperature=float(body.get("temperature", 1.0)),
                max_tokens=int(body.get("max_tokens", 64)),
                n=int(body.get("n", 1)),
                seed=body.get("seed"),
            )
            return Reply(text=texts[0] if texts else "")


class _QuietServer(ThreadingHTTPServer):
    """Clients hang up on purpose here (timeouts, kills); that is not an error worth a trace."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (OSError, ValueError)):
            super().handle_error(request, client_address)


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": reply.text}}
    model = reply.model if reply.model is not None else body.get("model")
    return {"object": "chat.completion", "model": model, "choices": [choice]}


def _handler(state: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _head(self, status: int, length: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def _send(self, status: int, payload: str, headers: dict[str, str] | None = None) -> None:
            data = payload.encode("utf-8")
            self._head(status, len(data), headers or {})
            self.wfile.write(data)

        def _reset(self) -> None:
            # SO_LINGER 0: close() sends a TCP RST instead of a clean FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            state.times.append(time.monotonic())
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
            if reply.delay and state.stopping.wait(reply.delay):
                return
            if reply.status != 200:
                self._send(reply.status, reply.body, reply.headers)
            elif reply.fault == "reset":
                self._reset()
            elif reply.fault == "malformed":
                self._send(200, '{"choices": [{"message": {"content": "4"', reply.headers)
            elif reply.fault == "empty_choices":
                self._send(200, json.dumps({**_completion(reply, body), "choices": []}))
            elif reply.fault in ("truncate", "trickle"):
                data = json.dumps(_completion(reply, body)).encode("utf-8")
                self._head(200, len(data), reply.headers)
                if reply.fault == "truncate":  # half the announced body, then hang up
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._reset()
                    return
                for start in range(0, len(data), 8):  # 8 bytes every 0.1 s
                    self.wfile.write(data[start : start + 8])
                    self.wfile.flush()
                    if state.stopping.wait(0.1):
                        return
            else:
                self._send(200, json.dumps(_completion(reply, body)), reply.headers)

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
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
