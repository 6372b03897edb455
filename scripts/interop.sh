#!/usr/bin/env bash
# Interop with servers nobody here wrote (not in CI; takes minutes): builds llama.cpp's llama-server, runs two
# replicas of it and LiteLLM's proxy on loopback, and drives tandem through each of its providers against them:
#
#   openai    -> llama-server               (/v1/chat/completions, --jinja)
#   openai    -> LiteLLM -> llama-server    (/v1/chat/completions)
#   anthropic -> LiteLLM -> llama-server    (/v1/messages)
#
# For each: `exec --plan-only`, a whole `exec` session and a two-iteration `loop` on a copy of examples/todo-cli,
# with the exit code, the wall time and the ledger's rows. Then a provider marked inside the trust boundary with
# both replicas, four sessions at once: which replica each session used and its cached-token share.
#
# Usage: scripts/interop.sh [GGUF]   (default: the demo model; the coder model plans better and slower)
# Env: LLAMA_TOOLS (default /tmp/llama-tools), LITELLM_VENV (default /tmp/litellm-venv), OUT (default
# /tmp/tandem-interop; a results.md lands there), NP (llama-server slots per replica, default 4), TANDEM (a
# tandem binary to use instead of building the release one).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"
export OMP_WAIT_POLICY=passive
source scripts/models-dir.sh
MODEL=${1:-$(models_dir)/SmolLM2-135M-Instruct.Q4_1.gguf}
LLAMA_TOOLS=${LLAMA_TOOLS:-/tmp/llama-tools}
LITELLM_VENV=${LITELLM_VENV:-/tmp/litellm-venv}
OUT=${OUT:-/tmp/tandem-interop}
NP=${NP:-4}
P1=18081 P2=18082 PL=14000

[ -f "$MODEL" ] || { echo "interop: no model at $MODEL (scripts/setup.sh fetches the demo model)" >&2; exit 2; }
bash ../shared/tools/build-llama-tools.sh "$LLAMA_TOOLS" || { echo "interop: llama-server did not build" >&2; exit 2; }
if [ ! -x "$LITELLM_VENV/bin/litellm" ]; then
  python3 -m venv "$LITELLM_VENV" && "$LITELLM_VENV/bin/pip" install -q 'litellm[proxy]' ||
    { echo "interop: cannot install litellm[proxy] from PyPI" >&2; exit 2; }
fi
if [ -z "${TANDEM:-}" ]; then
  cargo build --release -q || exit 2
  TANDEM=$repo/target/release/tandem
fi
rm -rf "$OUT" && mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

wait_http() { # url seconds
  for _ in $(seq 1 "$2"); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "interop: $1 did not come up" >&2; return 1
}

for port in $P1 $P2; do
  "$LLAMA_TOOLS/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$port" --jinja -np "$NP" \
    -c $((8192 * NP)) -t 1 --alias served-model >"$OUT/llama-$port.log" 2>&1 &
  pids+=($!)
done
cat >"$OUT/litellm.yaml" <<EOF
model_list:
  - model_name: team-model
    litellm_params:
      model: openai/served-model
      api_base: http://127.0.0.1:$P1/v1
      api_key: none
EOF
# LiteLLM refuses to start without a master key; tandem sends it as the provider's key.
LITELLM_MASTER_KEY=sk-interop-master "$LITELLM_VENV/bin/litellm" --config "$OUT/litellm.yaml" --host 127.0.0.1 --port $PL >"$OUT/litellm.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$P1/health" 120 && wait_http "http://127.0.0.1:$P2/health" 120 &&
  wait_http "http://127.0.0.1:$PL/health/liveliness" 120 || exit 1

results=$OUT/results.md
{
  echo "# tandem against llama-server and LiteLLM ($(date -u +%F), $(nproc) cores, $(basename "$MODEL"))"
  echo
  echo "| provider path | run | exit | wall s | ledger rows | planner route | note |"
  echo "|---|---|---|---|---|---|---|"
} >"$results"

# run NAME PROVIDER_TOML RUN ARGS...: a fresh copy of the example repo and fresh user dirs per run.
run() {
  local name=$1 toml=$2 what=$3; shift 3
  local d=$OUT/$name-$what ws
  ws=$d/ws && mkdir -p "$d/config" && cp -r examples/todo-cli "$ws"
  printf '%s\n' "$toml" >"$d/config/config.toml"
  echo "Add a --version flag that prints 0.1" >"$ws/PROMPT.md"
  local t0 code
  t0=$(date +%s%N)
  env -i PATH="$PATH" HOME="$d/home" OMP_WAIT_POLICY=passive TEAM_KEY=sk-interop-master \
    TANDEM_CONFIG_DIR="$d/config" TANDEM_DATA_DIR="$d/data" TANDEM_STATE_DIR="$d/state" \
    TANDEM_CACHE_DIR="$d/cache" timeout 400 "$TANDEM" -C "$ws" --model "$MODEL" "$@" \
    >"$d/stdout" 2>"$d/stderr"
  code=$?
  local wall rows route note
  wall=$(( ($(date +%s%N) - t0) / 1000000000 ))
  rows=$(env -i PATH="$PATH" HOME="$d/home" TANDEM_CONFIG_DIR="$d/config" TANDEM_DATA_DIR="$d/data" \
    "$TANDEM" -C "$ws" spend --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
models = ", ".join(sorted({m["role"][0] + ":" + m["provider"] + "/" + m["model"] for m in d.get("by_model", [])}))
print(str(d["month"]["requests"]) + " (" + models + ")")' 2>/dev/null || echo "?")
  route=$(grep -m1 -o 'planner → [^ ]*' "$d/stderr" | head -1)
  note=$(grep -m1 -E 'error|unpriced|mismatch|warning' "$d/stderr" | cut -c1-90 | tr '|' '/')
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$what" "$code" "$wall" "$rows" "$route" "$note" >>"$results"
}

# Both roles go to the server under test (its tool-call deltas are exercised too); one round, few turns.
base='[agent]
verify = "python3 -m unittest -q"
max_rounds = 1
max_step_attempts = 1
max_step_turns = 6
[executor]
provider = "team"
max_tokens = 512'
openai_direct="$base
[planner]
provider = \"team\"
max_tokens = 768
[providers.team]
kind = \"openai\"
base_url = \"http://127.0.0.1:$P1/v1\"
model = \"served-model\"
api_key_env = \"TEAM_KEY\""
openai_litellm="$base
[planner]
provider = \"team\"
max_tokens = 768
[providers.team]
kind = \"openai\"
base_url = \"http://127.0.0.1:$PL/v1\"
model = \"team-model\"
api_key_env = \"TEAM_KEY\""
anthropic_litellm="$base
[planner]
provider = \"team\"
max_tokens = 768
[providers.team]
kind = \"anthropic\"
base_url = \"http://127.0.0.1:$PL\"
model = \"team-model\"
api_key_env = \"TEAM_KEY\""

for pair in "openai-llama-server:openai_direct" "openai-litellm:openai_litellm" "anthropic-litellm:anthropic_litellm"; do
  name=${pair%%:*} var=${pair#*:}
  run "$name" "${!var}" plan-only exec --plan-only "Add a --version flag that prints 0.1"
  run "$name" "${!var}" exec exec "Add a --version flag that prints 0.1"
  run "$name" "${!var}" loop loop --max-iterations 2 PROMPT.md
done

# Two replicas inside the trust boundary, four sessions at once: each sticks to one replica.
inside="[agent]
verify = \"none\"
max_rounds = 1
max_step_attempts = 1
max_step_turns = 6
[planner]
provider = \"team\"
max_tokens = 768
[executor]
provider = \"team\"
max_tokens = 512
[providers.team]
kind = \"openai\"
base_url = \"http://127.0.0.1:$P1/v1\"
replicas = [\"http://127.0.0.1:$P2/v1\"]
boundary = \"inside\"
model = \"served-model\"
api_key_env = \"TEAM_KEY\""
d=$OUT/replicas && mkdir -p "$d/config" && printf '%s\n' "$inside" >"$d/config/config.toml"
sessions=()
for i in 1 2 3 4; do
  cp -r examples/todo-cli "$d/ws$i"
  env -i PATH="$PATH" HOME="$d/home" OMP_WAIT_POLICY=passive TEAM_KEY=sk-interop-master \
    TANDEM_CONFIG_DIR="$d/config" TANDEM_DATA_DIR="$d/data" TANDEM_STATE_DIR="$d/state" \
    TANDEM_CACHE_DIR="$d/cache" timeout 400 "$TANDEM" -C "$d/ws$i" --model "$MODEL" exec --json \
    "Add a --version flag that prints 0.1" >"$d/s$i.jsonl" 2>"$d/s$i.err" &
  sessions+=($!)
done
wait "${sessions[@]}"
{
  echo
  echo "## Two replicas inside the boundary, four concurrent sessions"
  echo
  echo "| session | exit | replica(s) used | requests | prompt tokens | cached | cached share |"
  echo "|---|---|---|---|---|---|---|"
  for i in 1 2 3 4; do
    python3 - "$d/s$i.jsonl" "$i" <<'PY'
import json, sys
path, n = sys.argv[1], sys.argv[2]
replicas, reqs, prompt, cached, outcome = set(), 0, 0, 0, "?"
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "route":
        d = e["decision"]
        replicas.add(d.get("replica") or d.get("endpoint") or d.get("provider"))
    if e.get("type") == "usage":
        u = e.get("usage", {})
        reqs += 1
        prompt += u.get("input_tokens", 0) + u.get("cached_input_tokens", 0)
        cached += u.get("cached_input_tokens", 0)
    if e.get("type") == "session_finished":
        outcome = e.get("outcome")
share = f"{cached / prompt:.0%}" if prompt else "-"
print(f"| {n} | {outcome} | {', '.join(sorted(map(str, replicas)))} | {reqs} | {prompt} | {cached} | {share} |")
PY
  done
} >>"$results"
cat "$results"
