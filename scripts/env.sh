# Sourced by scripts/test.sh (and handy in a shell): environment for crates that
# link MLX. On Linux the MLX shared library comes from the venv's mlx-cpu wheel
# (scripts/setup-mlx.sh); the engine's own tests carry an rpath to it, other
# crates' test binaries that link the engine find it through LD_LIBRARY_PATH.
if [ "$(uname -s)" = "Linux" ]; then
  _moshibar_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for _moshibar_d in "${MOSHIBAR_VENV:-$_moshibar_root/.venv}"/lib/python3*/site-packages/mlx/lib; do
    if [ -f "$_moshibar_d/libmlx.so" ]; then
      case ":${LD_LIBRARY_PATH:-}:" in
        *":$_moshibar_d:"*) ;;
        *) export LD_LIBRARY_PATH="$_moshibar_d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
      esac
    fi
  done
  unset _moshibar_root _moshibar_d
fi
