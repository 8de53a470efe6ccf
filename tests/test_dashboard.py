"""The asv dashboard opens offline in a real browser and shows our benchmarks' graphs.

A tiny real asv run (one benchmark, four parameter sets, ``--quick``) goes into
a temporary results folder; ``asv publish`` and the offline step
(benchmarks/dashboard/offline.py) build the HTML; http.server serves it on
127.0.0.1; headless Chromium, driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on fds 3 and 4), opens
the benchmark list and one graph, with every host but 127.0.0.1 unresolvable.
The screenshot is saved as dashboard.png in the test's temporary folder (and to
``$FASTRNN_DASHBOARD_SCREENSHOT`` when set).
"""
import base64
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
import sys
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BENCHMARK = "bench_streaming.StreamingStep.time_step"
#: the numpy backend's RNN at every streaming size: fast, and always available
SELECTION = r"StreamingStep\.time_step\('rnn', 'numpy', 'float64'"

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)")


def load_offline():
    """benchmarks/dashboard/offline.py as a module (that folder is not a package: asv must not import it)."""
    spec = importlib.util.spec_from_file_location("offline", ROOT / "benchmarks/dashboard/offline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def asv(*args, cwd, home):
    """Run ``python -m asv ARGS`` with this interpreter, its machine file in ``home``."""
    env = dict(os.environ, HOME=str(home))
    subprocess.run([sys.executable, "-m", "asv", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The published, localized dashboard of a tiny real asv run; returns its folder."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the dashboard's scripts come from the npm registry")
    tmp = tmp_path_factory.mktemp("asv")
    conf = json.loads("\n".join(line for line in (ROOT / "asv.conf.json").read_text().splitlines()
                                if not line.lstrip().startswith("//")))
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), env_dir=str(tmp / "env"),
                results_dir=str(tmp / "results"), html_dir=str(tmp / "html"))
    (tmp / "asv.conf.json").write_text(json.dumps(conf))
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, text=True,
                          capture_output=True).stdout.strip()
    asv("machine", "--yes", "--machine", "dashboard-test", cwd=tmp, home=tmp)
    asv("run", "--quick", "--machine", "dashboard-test", "--set-commit-hash", head,
        "--bench", SELECTION, cwd=tmp, home=tmp)
    asv("publish", cwd=tmp, home=tmp)
    offline = load_offline()
    offline.localize(tmp / "html", offline.install_packages())
    return tmp / "html"


@pytest.fixture(scope="module")
def server(dashboard):
    """http://127.0.0.1:PORT/ serving the dashboard from a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(dashboard)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
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


@pytest.fixture
def browser(tmp_path, server):     # after the server: no thread runs while Chromium is forked
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


#: the number of drawn (non-transparent) pixels of a flot plot's base canvas in ``sel``
DRAWN_PIXELS = """(() => {{
  const c = document.querySelector({sel!r} + ' canvas.flot-base');
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
  return n;
}})()"""


def test_published_pages_reference_no_external_url(dashboard):
    offline = load_offline()
    assert offline.external_urls(dashboard) == []
    assert (dashboard / "vendor/jquery/dist/jquery.min.js").is_file()
    assert 'src="vendor/jquery/dist/jquery.min.js"' in (dashboard / "index.html").read_text()


def test_offline_step_refuses_an_unknown_cdn_asset(tmp_path):
    offline = load_offline()
    (tmp_path / "node_modules/bootstrap/dist/fonts").mkdir(parents=True)
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(
        '<a href="https://example.org/">a link loads nothing</a>\n'
        '<script src="https://cdn.example.org/new.min.js" integrity="sha256-x"></script>')
    assert offline.external_urls(html) == [(str(html / "index.html"),
                                            "https://cdn.example.org/new.min.js")]
    with pytest.raises(KeyError, match="cdn.example.org/new.min.js"):
        offline.localize(html, tmp_path / "node_modules")


@needs_chromium
def test_dashboard_lists_benchmarks_and_draws_a_graph_offline(browser, server, tmp_path):
    # the benchmark list: our benchmark in its group, with its thumbnail drawn
    browser.goto(server + "index.html")
    names = browser.wait_for("Array.from(document.querySelectorAll('.benchmark-container'))"
                             ".map(a => a.getAttribute('href'))")
    assert f"#{BENCHMARK}" in names
    assert browser.evaluate("document.querySelector('#group-bench_streaming h1').textContent") \
        == "bench_streaming"
    # its graph: time against the streaming size (the x-axis parameter), all four points drawn
    browser.goto(server + f"index.html#{BENCHMARK}?x-axis=I%2CH&p-cell='rnn'"
                 f"&p-backend='numpy'&p-dtype='float64'")
    browser.wait_for(DRAWN_PIXELS.format(sel="#main-graph"))
    points = browser.wait_for("(() => { const p = $('#main-graph').data('plot');"
                              " return p && p.getData().map(s => s.data.length); })()")
    assert max(points) == 4, points
    assert not browser.evaluate("location.pathname.endsWith('error.html')")
    time.sleep(0.5)     # let flot finish its last redraw before the picture
    shot = tmp_path / "dashboard.png"
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("FASTRNN_DASHBOARD_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["FASTRNN_DASHBOARD_SCREENSHOT"])
    print(f"screenshot: {shot}")
    # offline: every request the page made went to our server
    assert browser.requests and all(url.startswith(server) for url in browser.requests), \
        [url for url in browser.requests if not url.startswith(server)]
