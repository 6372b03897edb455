#!/usr/bin/env bash
# Refreshes the vendored snapshot of RustSec's advisory database (data/advisory-db) that scripts/deny.sh reads.
# Usage: scripts/refresh-advisories.sh [CHECKOUT]   a git checkout of https://github.com/rustsec/advisory-db
# (cloned to a temporary folder when none is given; needs access to github.com).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(pwd)/data/advisory-db
src=${1:-}
if [ -z "$src" ]; then
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  git clone -q --depth 1 https://github.com/rustsec/advisory-db "$src"
fi
git -C "$src" rev-parse HEAD >/dev/null
mkdir -p "$out"
git -C "$src" archive --format=tar HEAD crates LICENSE.txt | gzip -n -9 > "$out/advisory-db.tar.gz"
printf 'source = "https://github.com/rustsec/advisory-db"\ncommit = "%s"\ndate = "%s"\n' \
  "$(git -C "$src" log -1 --format=%H)" "$(git -C "$src" log -1 --format=%cI)" > "$out/SNAPSHOT.toml"
echo "refreshed: $(cat "$out/SNAPSHOT.toml" | tr '\n' ' ')"
