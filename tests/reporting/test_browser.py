"""The report as a person sees it: rendered by a real headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so the test needs no driver, no
websocket library and no download. The checks run through the protocol rather than a script in
the page, because the report's Content-Security-Policy forbids scripts, and a test that
loosened it would not test the page people open.

What is checked: every section heading is on the page, every plot ``<img>`` finished loading
with a non-zero natural size, nothing was logged as an error (console, uncaught exception,
CSP violation, failed load), and the full-page screenshot decodes and is not one flat colour.

``.ci/run`` installs Debian's ``chromium`` so that CI runs this test; without it the test fails
rather than skips. Set ``VALUELOCATE_SAVE_SCREENSHOT=PATH`` to keep the screenshot (that is how
``docs/report-screenshot.png`` was made).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from report_fixture import make_run
from valuelocate.reporting import write_report

SECTIONS = {
    "verdict": "Verdict: does steering beat its nulls?",
    "sparsity": "Sparsity per dimension and pole",
    "layers": "Layer profile of the neurons",
    "overlap": "Overlap of the neuron sets",
    "dose-response": "Dose-response curves",
    "perplexity": "Perplexity cost",
    "leakage": "Leakage between dimensions",
    "examples": "Example answers",
    "details": "Run details",
}
TIMEOUT = 60.0


class Browser:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            pytest.fail("chromium is not installed (.ci/run installs it: apt-get install chromium)")
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads commands, fd 4 writes answers
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,  # noqa: PLW1509 - the test is single-threaded here
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def send(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if kw.get("session", True) and self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """Wait for an event (it may have arrived already)."""
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium stopped answering on the DevTools pipe")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.send("Browser.close", session=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        os.close(self._read)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Every error the page produced: console.error/assert, exceptions, log entries."""
    out: list[str] = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(f"console: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return out


_PAGE_FACTS = """(() => {
  const headings = {};
  for (const el of document.querySelectorAll('section[id], footer[id]')) {
    const h = el.querySelector('h2');
    headings[el.id] = h ? h.innerText.trim() : null;
  }
  const images = [...document.images].map(i => ({
    complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, alt: i.alt,
    shown_w: i.getBoundingClientRect().width}));
  return {headings, images, title: document.title,
          width: document.documentElement.scrollWidth,
          height: document.documentElement.scrollHeight};
})()"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Open one full report (with evaluation and a version-2 verdict) and collect what the
    checks look at."""
    root = tmp_path_factory.mktemp("browser")
    report = write_report(make_run(root, verdict=True))
    html = report.read_text(encoding="utf-8")
    browser = Browser(root / "profile")
    try:
        targets = browser.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = browser.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )
        browser.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable")
        browser.send("Emulation.setDeviceMetricsOverride", _metrics(1200, 900))
        browser.send("Page.navigate", {"url": report.as_uri()})
        browser.wait_for("Page.loadEventFired")
        facts = browser.send(
            "Runtime.evaluate", {"expression": _PAGE_FACTS, "returnByValue": True}
        )["result"]["value"]
        browser.send("Emulation.setDeviceMetricsOverride", _metrics(1200, int(facts["height"])))
        shot = browser.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )["data"]
        errors = _errors(browser.events)
    finally:
        browser.close()
    png = base64.b64decode(shot)
    target = os.environ.get("VALUELOCATE_SAVE_SCREENSHOT")
    if target:
        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
        image.save(target, optimize=True)
    return {"facts": facts, "errors": errors, "png": png, "img_tags": html.count("<img ")}


def _metrics(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}


def test_every_section_heading_is_shown(rendered: dict[str, Any]) -> None:
    assert rendered["facts"]["headings"] == SECTIONS


def test_every_plot_image_loaded_with_a_size(rendered: dict[str, Any]) -> None:
    images = rendered["facts"]["images"]
    assert len(images) == rendered["img_tags"] >= 10
    # The verdict's forest plot and sparsity curve come first on the page.
    assert images[0]["alt"].startswith("Forest plot")
    assert images[1]["alt"].startswith("Sparsity curve")
    for image in images:
        assert image["complete"], image
        assert image["w"] > 0 and image["h"] > 0, image
        assert image["shown_w"] > 0, image


def test_no_console_error(rendered: dict[str, Any]) -> None:
    assert rendered["errors"] == []


def test_screenshot_is_not_blank(rendered: dict[str, Any]) -> None:
    image = Image.open(io.BytesIO(rendered["png"]))
    image.load()
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.shape[1] == 1200 and pixels.shape[0] >= 900
    assert float(pixels.var()) > 0.0
    # More than a few colours: text and plots, not a flat page with a border.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
