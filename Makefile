# fastrnn: the commands a user and CI run. Each target creates or reuses .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fastrnn-installed

.PHONY: demo test test-cpu test-cuda install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cuda,bench,examples]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fastrnn demo

# The whole suite: host tests, then the CUDA kernels under the Numba CUDA
# simulator in their own process (NUMBA_ENABLE_CUDASIM is read at numba's import).
test: test-cpu test-cuda

test-cpu: $(STAMP)
	$(PY) -m pytest tests -m "not cuda"

test-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest tests -m cuda

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks build *.egg-info
