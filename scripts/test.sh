#!/usr/bin/env bash
# README command 2: set up (toolchain, demo model) and run the whole test suite, the real-model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export TANDEM_REQUIRE_MODEL="${TANDEM_REQUIRE_MODEL:-1}"
# The in-process engine tests share 2 cores with each other: spinning OpenMP waiters would starve them.
# OpenMP threads spin briefly, then sleep (src/model/local/openmp.rs): fast alone, fair beside other tests.
[ -n "${OMP_WAIT_POLICY:-}" ] || export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-10000}"
cargo test --locked "$@"
