"""Headless Chromium for tests of static sites: a folder served on 127.0.0.1, one page driven.

``serve(folder)`` serves a folder with http.server from a thread. ``Browser``
drives headless Chromium over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on fds 3 and 4), with
every host but 127.0.0.1 unresolvable, and records every URL the page requests.
Used by tests/test_dashboard.py (the asv dashboard) and tests/test_docs.py (the
documentation site).
"""
import base64
import contextlib
import fcntl
import functools
import http.server
import importlib.util
import json
import os
import pathlib
import select
import shutil
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)")


def load_offline():
    """benchmarks/dashboard/offline.py as a module (that folder is not a package: asv must not import it).

    Its ``external_urls(folder)`` lists what a site's pages load from other hosts.
    """
    spec = importlib.util.spec_from_file_location("offline", ROOT / "benchmarks/dashboard/offline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def serve(folder):
    """http://127.0.0.1:PORT/ serving ``folder`` from a thread while the block runs."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe: one page, its requests recorded."""

    def __init__(self, profile, width=1280, height=900):
        to_chrome, self._w = os.pipe()
        self._r, from_chrome = os.pipe()
        # the child's ends moved above 9, so that placing them on fds 3 (commands in)
        # and 4 (replies out) cannot overwrite one with the other
        hi_in, hi_out = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome, from_chrome))

        def fds():
            os.dup2(hi_in, 3)
            os.dup2(hi_out, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "about:blank"],
            preexec_fn=fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_chrome, from_chrome, hi_in, hi_out):
            os.close(fd)
        self._next_id, self._buffer, self.requests = 0, b"", []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", session=True)

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if not select.select([self._r], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=False, timeout=30, **params):
        """Send one DevTools command (to the page's session when ``session``) and return its result."""
        self._next_id += 1
        message = dict(id=self._next_id, method=method, params=params)
        if session:
            message["sessionId"] = self.session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("method") == "Network.requestWillBeSent":
                self.requests.append(reply["params"]["request"]["url"])
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30):
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression} "
                             f"(page: {self.evaluate('location.href')})")

    def goto(self, url):
        self.call("Page.navigate", session=True, url=url)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        pathlib.Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)
