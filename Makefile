# provenet: `make demo` runs the end-to-end story on a local devnet; `make test` runs every test.
# Both install what they need first (Python venv with torch 2.13.0 CPU first, then the project;
# `npm ci` in devnet/), start the services they need and stop them afterwards.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export FLWR_TELEMETRY_ENABLED := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test test-python test-contracts contracts check-artifacts slither chromium bench lint clean

install: $(VENV)/.installed devnet/node_modules/.installed

# torch first, pinned: an unpinned torch would pull a multi-gigabyte CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[federation,node,dev]'
	touch $@

devnet/node_modules/.installed: devnet/package.json devnet/package-lock.json
	npm ci --prefix devnet --no-audit --no-fund
	touch $@

# Headless Chromium for the node's browser tests (Debian's package; nothing downloads a browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(PY) devnet/demo.py

contracts: install
	$(PY) contracts/compile.py

check-artifacts: install
	$(PY) contracts/compile.py --check

test-contracts: install
	cd contracts && ../devnet/node_modules/.bin/forge fmt --check src test
	cd contracts && ../devnet/node_modules/.bin/forge test
	bash contracts/slither.sh

test-python: install chromium
	$(PY) -m pytest -ra

test: check-artifacts lint test-contracts test-python

lint: install
	$(VENV)/bin/ruff check client_sdk federation node tests bench contracts/compile.py devnet/demo.py
	$(VENV)/bin/mypy client_sdk

bench: install
	$(PY) bench/gas.py
	$(PY) bench/license_check.py
	$(PY) bench/hashing.py
	$(PY) bench/load.py
	$(PY) bench/fl_overhead.py
	$(PY) bench/watermark.py
	$(PY) bench/node.py

clean:
	rm -rf contracts/out contracts/cache devnet/run test-artifacts
