#!/usr/bin/env bash
# cargo deny over every dependency, offline: licences, bans, sources, and advisories from the vendored snapshot
# of RustSec's advisory database (data/advisory-db; refresh it with scripts/refresh-advisories.sh).
# Usage: scripts/deny.sh   (installs cargo-deny with cargo if it is missing: about 2 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny@0.20.2
# cargo deny reads the whole graph, every target's crates included (a build fetches only this host's): fetch
# them from the registry first, so the offline check below finds them on a fresh machine.
cargo fetch --locked
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# cargo deny keeps each database in <db-path>/<last URL segment>-<hash of the URL>; it names the folder it
# expects when it cannot find it, so the folder is made under that name.
db="$root/advisory-db-3157b0e258782691"
mkdir -p "$db"
tar -xzf data/advisory-db/advisory-db.tar.gz -C "$db"
date=$(sed -n 's/^date = "\(.*\)"/\1/p' data/advisory-db/SNAPSHOT.toml)
(cd "$db" && git init -q && git add -A &&
  GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -c user.name=snapshot -c user.email=snapshot@localhost \
    commit -qm "advisory-db snapshot $date")
echo "deny: advisories as of $date ($(sed -n 's/^commit = "\(.*\)"/\1/p' data/advisory-db/SNAPSHOT.toml | cut -c1-12))"
# The project's deny.toml with the database's folder set (a path in deny.toml would be this machine's).
sed "s#^\[advisories\]#[advisories]\ndb-path = \"$root\"#" deny.toml > "$root/deny.toml"
cargo deny --offline --locked --config "$root/deny.toml" check "$@"
