#!/usr/bin/env bash
# README command 2: set up (toolchain, demo model) and run the whole test suite, the real-model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export TANDEM_REQUIRE_MODEL="${TANDEM_REQUIRE_MODEL:-1}"
# The in-process engine tests share 2 cores with each other: spinning OpenMP waiters would starve them.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
cargo test --locked "$@"
