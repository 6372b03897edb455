#!/usr/bin/env bash
# README command 2: set up (toolchain, demo model) and run the whole test suite, the real-model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export TANDEM_REQUIRE_MODEL="${TANDEM_REQUIRE_MODEL:-1}"
cargo test --locked "$@"
