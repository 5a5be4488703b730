# `make test` creates .venv, installs tubescope with the tested pins (CPU torch 2.13.0 from
# constraints.txt, so nothing pulls a CUDA build), installs the system packages the CCTV tests
# use (GStreamer's RTSP server, when apt is available) and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test install bench clean

# Tests run on every core (pytest-xdist; a test file stays on one worker, so its module
# fixtures are built once), each worker with one torch/OpenMP thread so they do not fight.
TEST_WORKERS ?= auto

test: install
	sh scripts/system-deps.sh
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e ".[dev]"
	touch $@

bench: install
	$(PY) bench/decode.py
	$(PY) bench/eval.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
