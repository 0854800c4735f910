#!/usr/bin/env bash
# Install the peer tools into benchmarks/peers/ only (never project dependencies):
# promptfoo from npm into ./node_modules, inspect_ai (with openai, its OpenAI provider's client) from
# PyPI into ./inspect-venv.
set -euo pipefail
cd "$(dirname "$0")"
if ! node_modules/.bin/promptfoo --version >/dev/null 2>&1; then
    rm -rf node_modules package.json package-lock.json
    npm install --no-audit --no-fund --silent promptfoo@0.121.20   # the last release that runs on Node 20
fi
if [ ! -x inspect-venv/bin/inspect ]; then
    rm -rf inspect-venv
    python3 -m venv inspect-venv
    inspect-venv/bin/pip install -q --upgrade pip
    inspect-venv/bin/pip install -q inspect_ai openai || inspect-venv/bin/pip install -q "inspect_ai==0.3.285" openai
fi
echo "peers installed: promptfoo $(node_modules/.bin/promptfoo --version 2>/dev/null | tail -1) / inspect_ai $(inspect-venv/bin/python -c 'import importlib.metadata as m; print(m.version("inspect_ai"))')"
