# Everything slant needs is installed from here: no step by hand.
VENV ?= .venv
PY := $(VENV)/bin/python
# llama-cpp-python compiles from source; skipping multimodal/tools/examples halves the build.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF

# The HTML report's browser test renders it in Debian's Chromium (headless).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint install browser bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[local,dev]"
	touch $@

install: $(VENV)/.installed

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null

browser: $(CHROMIUM)

demo: install  ## run the quickstart audit on the embedded model and print the per-group table
	$(VENV)/bin/slant run scenarios/campaigns/quickstart.yaml

test: install browser  ## run the test suite (includes a few small real-model tests and a browser test)
	$(VENV)/bin/pytest -q

bench: install  ## every benchmark that needs no peer tool (a few minutes; prints RESULT lines)
	cd benchmarks && for b in engine_overhead replicas adaptive tokens_per_estimate prefix_order resume_memory; do \
		../$(PY) $$b.py || exit 1; done

lint: install
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) *.egg-info src/*.egg-info
