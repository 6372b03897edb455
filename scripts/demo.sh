#!/usr/bin/env bash
# README command 1: set up, build tandem (release), and run the main job on the demo model in examples/todo-cli:
# on a terminal, the interactive UI; otherwise a headless plan of a task. With no cloud key set, the local model
# makes the plan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "demo: building tandem (release; the first build compiles llama.cpp, a few minutes)"
cargo build --release --locked
if [ -t 0 ] && [ -t 1 ]; then
  echo "demo: tandem (the interactive UI, in examples/todo-cli; ? shows the keys, Ctrl-C twice quits)"
  exec target/release/tandem -C examples/todo-cli
fi
TASK="Add a 'done' command to todo.py that marks an item as completed, and show done items with [x] in list"
echo "demo: tandem exec --plan-only \"$TASK\"   (in examples/todo-cli)"
exec target/release/tandem -C examples/todo-cli exec --plan-only "$TASK"
