#!/usr/bin/env bash
# Checks every eval task: its test must fail on the starting repo and pass once the reference solution
# (the task's solution/ overlay) is copied over it. Run from anywhere: evals/check.sh [NAME-FILTER]
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
filter="${1:-}"
# Each task crate builds into its own temp copy, not a shared target dir.
unset CARGO_TARGET_DIR
fails=0
count=0
for task in "$here"/tasks/*/; do
  name="$(basename "$task")"
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  count=$((count + 1))
  test_cmd="$(python3 -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb"))["test"])' "$task/task.toml")"
  if [[ ! -d "$task/repo" || ! -d "$task/solution" ]]; then
    echo "FAIL $name: repo/ or solution/ missing"
    fails=$((fails + 1))
    continue
  fi
  tmp="$(mktemp -d)"
  cp -R "$task/repo/." "$tmp/"
  if (cd "$tmp" && timeout 300 bash -c "$test_cmd") >"$tmp.before.log" 2>&1; then
    echo "FAIL $name: the test passes on the starting repo"
    fails=$((fails + 1))
  else
    cp -R "$task/solution/." "$tmp/"
    if (cd "$tmp" && timeout 300 bash -c "$test_cmd") >"$tmp.after.log" 2>&1; then
      echo "ok   $name"
    else
      echo "FAIL $name: the test fails with the solution applied:"
      tail -n 20 "$tmp.after.log" | sed 's/^/       /'
      fails=$((fails + 1))
    fi
  fi
  rm -rf "$tmp" "$tmp.before.log" "$tmp.after.log"
done
echo "$((count - fails))/$count tasks ok"
[[ $fails -eq 0 && $count -gt 0 ]]
