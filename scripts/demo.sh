#!/usr/bin/env bash
# README command 1: set up, build tandem (release), and run the main job on the demo model: a headless plan of a
# task in examples/todo-cli. With no cloud key set, the local model makes the plan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "demo: building tandem (release; the first build compiles llama.cpp, a few minutes)"
cargo build --release --locked
TASK="Add a 'done' command to todo.py that marks an item as completed, and show done items with [x] in list"
echo "demo: tandem exec --plan-only \"$TASK\"   (in examples/todo-cli)"
exec target/release/tandem -C examples/todo-cli exec --plan-only "$TASK"
