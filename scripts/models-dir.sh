# Sourced by the fetch scripts: `models_dir [DIR]` prints where tandem looks for models: DIR if given, else
# $TANDEM_CACHE_DIR/models, else ${XDG_CACHE_HOME:-~/.cache}/tandem/models.
models_dir() {
  if [ $# -ge 1 ]; then
    echo "$1"
  elif [ -n "${TANDEM_CACHE_DIR:-}" ]; then
    echo "$TANDEM_CACHE_DIR/models"
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/tandem/models"
  fi
}
