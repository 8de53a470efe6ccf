# fastrnn: the commands a user and CI run. Each target creates or reuses .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fastrnn-installed

.PHONY: demo test test-cpu test-cuda install clean bench bench-compare dashboard bench-micro docs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cuda,bench,examples]'
	touch $(STAMP)

# The documentation site's tools (the docs extra), on top of the install above.
DOCS_STAMP := $(VENV)/.fastrnn-docs-installed

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

# The documentation site (docs/) as HTML in docs/_build/html, offline, warnings as
# errors; the API pages are generated afresh from the docstrings each time.
docs: $(DOCS_STAMP)
	rm -rf docs/api/generated
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

demo: $(STAMP)
	$(VENV)/bin/fastrnn demo

# The whole suite: host tests, then the CUDA kernels under the Numba CUDA
# simulator in their own process (NUMBA_ENABLE_CUDASIM is read at numba's import).
test: test-cpu test-cuda

test-cpu: $(STAMP)
	$(PY) -m pytest tests -m "not cuda"
	@echo "cpu backend again: bounds-checked kernels (own cache), 3 threads on uneven shares"
	NUMBA_BOUNDSCHECK=1 NUMBA_NUM_THREADS=3 NUMBA_CACHE_DIR=$$(mktemp -d) \
		$(PY) -m pytest tests/test_cpu.py -q -p no:cacheprovider

test-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest tests -m cuda

# Speed over time (docs/benchmarks.md): the asv suite in benchmarks/, run in
# .venv on the checkout as it is, its results saved under HEAD's hash in .asv/.
# BENCH=regex picks benchmarks; A, B (any git revisions) and FACTOR pick what
# bench-compare reports: the benchmarks whose ratio B/A is beyond FACTOR.
ASV    := $(VENV)/bin/asv
BENCH  ?=
export BENCH
A      ?= HEAD~1
B      ?= HEAD
FACTOR ?= 1.1

bench: $(STAMP)
	$(ASV) machine --yes
	$(ASV) run --set-commit-hash $$(git rev-parse HEAD) $${BENCH:+--bench "$$BENCH"}

bench-compare: $(STAMP)
	$(ASV) compare --split --only-changed --factor $(FACTOR) $$(git rev-parse $(A)) $$(git rev-parse $(B))

# asv publish, then its CDN scripts and styles replaced by local copies (npm ci)
dashboard: $(STAMP)
	@ls .asv/results/*/*.json 2>/dev/null | grep -qv '/machine\.json$$' || \
		{ echo "make dashboard: no benchmark results in .asv/results yet: run make bench first"; exit 1; }
	$(ASV) publish
	$(PY) benchmarks/dashboard/offline.py .asv/html

bench-micro: $(STAMP)
	$(PY) -m pytest tests/test_micro_benchmarks.py --benchmark-enable --benchmark-only

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks build *.egg-info
