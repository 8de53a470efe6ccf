"""The asv dashboard opens offline in a real browser and shows our benchmarks' graphs.

A tiny real asv run (one benchmark, four parameter sets, ``--quick``) goes into
a temporary results folder; ``asv publish`` and the offline step
(benchmarks/dashboard/offline.py) build the HTML; http.server serves it on
127.0.0.1; headless Chromium (tests/_browser.py) opens the benchmark list and
one graph, with every host but 127.0.0.1 unresolvable.
The screenshot is saved as dashboard.png in the test's temporary folder (and to
``$FASTRNN_DASHBOARD_SCREENSHOT`` when set).
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from _browser import ROOT, Browser, load_offline, needs_chromium, serve

BENCHMARK = "bench_streaming.StreamingStep.time_step"
#: the numpy backend's RNN at every streaming size: fast, and always available
SELECTION = r"StreamingStep\.time_step\('rnn', 'numpy', 'float64'"


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
    """http://127.0.0.1:PORT/ serving the dashboard."""
    with serve(dashboard) as url:
        yield url


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
