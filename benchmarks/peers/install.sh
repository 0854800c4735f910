#!/usr/bin/env bash
# Install the peer tools into benchmarks/peers/ only (never project dependencies):
# promptfoo from npm into ./node_modules, garak from PyPI into ./garak-venv (CPU torch from the index
# or the machine's local file when one is offered).
set -euo pipefail
cd "$(dirname "$0")"
if ! node_modules/.bin/promptfoo --version >/dev/null 2>&1; then
    rm -rf node_modules package.json package-lock.json
    npm install --no-audit --no-fund --silent promptfoo@0.121.20   # the last release that runs on Node 20
fi
if [ ! -x garak-venv/bin/garak ]; then
    python3 -m venv garak-venv
    garak-venv/bin/pip install -q --upgrade pip
    garak-venv/bin/pip install -q "torch==2.13.0" || true   # the CPU build, if this machine has it
    garak-venv/bin/pip install -q garak
fi
echo "peers installed: $(node_modules/.bin/promptfoo --version 2>/dev/null | tail -1) / garak $(garak-venv/bin/python -c 'import importlib.metadata as m; print(m.version("garak"))')"
