"""The documentation site: its examples run, and the built HTML renders offline in a real browser.

``make docs`` builds docs/_build/html; the page tests skip when it is not built
(except under CI, which builds it before the tests: there they fail). The pages
are served on 127.0.0.1 and opened in headless Chromium (tests/_browser.py) with
every other host unresolvable; every request must go to that server.
"""
import importlib
import importlib.util
import inspect
import os
import re

import pytest

from _browser import ROOT, Browser, load_offline, needs_chromium, serve

DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"
#: one API page from docstrings in the numpydoc format: sections, members, an example
API_PAGE = "api/generated/fastrnn.nn.SequenceClassifier.html"


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        message = f"the docs are not built ({HTML}): run make docs"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return HTML


@pytest.fixture(scope="module")
def server(site):
    with serve(site) as url:
        yield url


@pytest.fixture
def browser(tmp_path, server):     # after the server: no thread runs while Chromium is forked
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


@pytest.mark.parametrize("page", sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
                                        if "_build" not in p.parts))
def test_python_examples_of_the_pages_run(page, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)
    for block in blocks:
        exec(compile(block, str(DOCS / page), "exec"), {"__name__": "docs"})


#: the modules whose public names (``__all__``, or the functions and classes they define)
#: each have a page of the API reference; fastrnn's ``nn`` and ``config`` are its own entries
API_MODULES = ("fastrnn", "fastrnn.nn", "fastrnn.stream", "fastrnn.cells", "fastrnn.backends",
               "fastrnn.dask", "fastrnn.onnx", "fastrnn.onnx.backend")


def test_the_api_reference_lists_every_public_name():
    listed, module = set(), None
    for line in (DOCS / "api" / "index.rst").read_text().splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif line.startswith("   ") and line.strip() and not line.strip().startswith(":"):
            listed.add(f"{module}.{line.strip()}")
    missing = []
    for name in API_MODULES:
        if name == "fastrnn.dask" and importlib.util.find_spec("distributed") is None:
            continue
        if name == "fastrnn.onnx.backend" and importlib.util.find_spec("onnx") is None:
            continue
        m = importlib.import_module(name)
        names = getattr(m, "__all__", None) or [
            n for n, obj in vars(m).items() if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == name]
        for n in names:
            obj = getattr(m, n)
            if inspect.ismodule(obj) and obj.__name__ in API_MODULES:
                continue            # its names are listed instead
            if f"{name}.{n}" not in listed:
                missing.append(f"{name}.{n}")
    assert not missing, f"not in docs/api/index.rst: {missing}"


def test_built_pages_load_nothing_from_another_host(site):
    assert load_offline().external_urls(site) == []


@needs_chromium
def test_index_and_an_api_page_render_offline(browser, server, tmp_path):
    browser.goto(server + "index.html")
    browser.wait_for("document.readyState === 'complete'")
    assert browser.evaluate("document.title").startswith("fastrnn")
    # the theme's header, with the site's sections, styled by the theme's own CSS
    sections = browser.wait_for("Array.from(document.querySelectorAll('.bd-header .nav-link'))"
                                ".map(a => a.textContent.trim())")
    assert {"Getting started", "User guide", "API reference", "Performance"} <= set(sections)
    assert browser.evaluate("getComputedStyle(document.querySelector('.bd-header')).position") \
        == "sticky"
    browser.screenshot(tmp_path / "index.png")

    browser.goto(server + API_PAGE)
    browser.wait_for("document.readyState === 'complete'")
    assert browser.evaluate("!!document.getElementById('fastrnn.nn.SequenceClassifier')")
    fields = browser.evaluate("Array.from(document.querySelectorAll('dl.field-list > dt'))"
                              ".map(d => d.textContent.trim())")
    assert {"Parameters:", "Attributes:", "Raises:"} <= set(fields), fields
    assert browser.evaluate("!!document.getElementById('fastrnn.nn.SequenceClassifier.fit')")
    assert "model.fit(" in browser.evaluate("document.querySelector('.highlight').textContent")
    # the theme's icon font, from the site's own files
    browser.wait_for("Array.from(document.fonts).some(f => f.family.startsWith('Font Awesome')"
                     " && f.status === 'loaded')")
    browser.screenshot(tmp_path / "api.png")
    print(f"screenshots: {tmp_path}")
    # offline: every request the pages made went to our server
    assert browser.requests and all(url.startswith(server) for url in browser.requests), \
        [url for url in browser.requests if not url.startswith(server)]
