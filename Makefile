# Everything slant needs is installed from here: no step by hand.
VENV ?= .venv
PY := $(VENV)/bin/python

# The embedded model's llama.cpp is compiled from source, for the machine *class*, never for the build
# CPU: llama.cpp's default (-march=native) emitted AMX instructions that a Xeon advertised but could not
# run (the server died on its first completion). x86-64 gets AVX2/FMA/F16C/BMI2 (every x86-64 CPU since
# about 2015); arm64 gets the generic armv8 build. Without the repacked and llamafile matrix kernels a
# prompt's logits no longer depend on how much of it was already cached (equal requests, equal replies),
# for 10-15% more time per call (benchmarks/local_build.py). Multimodal/tools/examples are skipped.
LLAMA_CPP_VERSION := 0.3.36
ARCH := $(shell uname -m)
GGML_CPU_x86_64 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
GGML_CPU_aarch64 := -DGGML_NATIVE=OFF
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TESTS=OFF $(or $(GGML_CPU_$(ARCH)),-DGGML_NATIVE=OFF) -DGGML_CPU_REPACK=OFF -DGGML_LLAMAFILE=OFF
# pip's own wheel cache is keyed by version alone and would hand back a wheel built with other flags:
# the wheel lives in a folder of ours keyed by version, architecture, Python and the exact flags.
WHEEL_KEY := $(shell printf '%s|' $(LLAMA_CPP_VERSION) $(ARCH) "$$(python3 -c 'import sys; print(sys.implementation.cache_tag)')" $(LLAMA_CMAKE_ARGS) | sha256sum | cut -c1-12)
WHEEL_DIR ?= $(HOME)/.cache/slant/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(WHEEL_KEY)

# The HTML report's browser test renders it in Debian's Chromium (headless).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint install llama-wheel browser bench clean refusal-model

$(WHEEL_DIR)/.built:
	mkdir -p $(WHEEL_DIR)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" python3 -m pip wheel -q --no-cache-dir --no-deps \
		-w $(WHEEL_DIR) llama-cpp-python==$(LLAMA_CPP_VERSION)
	printf '%s\n' "$(LLAMA_CMAKE_ARGS)" > $(WHEEL_DIR)/cmake-args.txt
	touch $@

llama-wheel: $(WHEEL_DIR)/.built  ## build (once per flag set) the portable llama-cpp-python wheel

# The stamp names the wheel: other flags (or a venv holding some other build) reinstall it.
$(VENV)/.llama-$(WHEEL_KEY): $(WHEEL_DIR)/.built
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-cache-dir --force-reinstall --no-deps $(WHEEL_DIR)/llama_cpp_python-*.whl
	rm -f $(VENV)/.llama-*
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.llama-$(WHEEL_KEY)
	$(PY) -m pip install -q -e ".[local,dev]"
	touch $@

install: $(VENV)/.installed

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null

browser: $(CHROMIUM)

demo: install  ## run the quickstart audit on the embedded model and print the per-group table
	$(VENV)/bin/slant run scenarios/campaigns/quickstart.yaml

test: lint browser  ## lint and type-check, then the test suite (a few small real-model tests, a browser test)
	$(VENV)/bin/pytest -q

bench: install  ## every benchmark that needs no peer tool (a few minutes; prints RESULT lines)
	cd benchmarks && for b in engine_overhead replicas adaptive tokens_per_estimate prefix_order local_build resume_memory scale; do \
		../$(PY) $$b.py || exit 1; done

lint: install  ## ruff (lint and format) on src and tests, mypy on src (settings in pyproject.toml)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

# The learned refusal detector (docs/refusal-model.md): DATA is the folder scripts/prepare_refusal_data.py
# wrote; scikit-learn is needed here only (pip install -e ".[train]").
DATA ?= refusal-data
refusal-model:  ## refit src/slant/detect/refusal_model.npz from DATA (seed 0) and measure it
	$(PY) scripts/train_refusal.py --seed 0 --train $(DATA)/gptfuzz_train.jsonl $(DATA)/coconot.jsonl \
		--out src/slant/detect/refusal_model.npz --report $(DATA)/report.json \
		--eval $(DATA)/gptfuzz_eval.jsonl $(DATA)/jbb.jsonl tests/data/refusals.jsonl

clean:
	rm -rf $(VENV) *.egg-info src/*.egg-info
