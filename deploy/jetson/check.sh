#!/usr/bin/env bash
# Reports what a Jetson offers AutoGlm.Edge: L4T / JetPack, CUDA, TensorRT, cuDNN, the ONNX Runtime native library the
# daemon will load, the power mode, the Tegra device nodes, and then `autoglm-edge doctor` (which tries to create every
# execution provider). Exit code: doctor's (non-zero when something required fails).
#
#   deploy/jetson/check.sh [autoglm-edge binary] [-- extra doctor arguments]
set -euo pipefail

bin="${1:-/opt/autoglm/autoglm-edge}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

row() { printf '%-14s %s\n' "$1" "$2"; }

if [ -f /etc/nv_tegra_release ]; then
  row "L4T" "$(head -n1 /etc/nv_tegra_release | sed 's/^# //')"
else
  row "L4T" "not a Jetson (/etc/nv_tegra_release is missing)"
fi
jetpack="$(dpkg-query -W -f='${Version}' nvidia-jetpack 2>/dev/null || true)"
row "JetPack" "${jetpack:-nvidia-jetpack package not installed (L4T 35.x = JetPack 5, 36.x = JetPack 6)}"
model="$( (tr -d '\0' < /proc/device-tree/model) 2>/dev/null || true)"
row "module" "${model:-unknown}"

if command -v nvcc >/dev/null; then
  row "CUDA" "$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  row "CUDA" "$(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
else
  row "CUDA" "nvcc not found (JetPack installs it under /usr/local/cuda)"
fi
row "TensorRT" "$(dpkg-query -W -f='${Version}' libnvinfer8 libnvinfer10 2>/dev/null | head -c 40 || echo 'libnvinfer not installed')"
row "cuDNN" "$(dpkg-query -W -f='${Version}' libcudnn8 libcudnn9-cuda-12 2>/dev/null | head -c 40 || echo 'libcudnn not installed')"

app_dir="$(dirname "$bin")"
if [ -e "$app_dir/libonnxruntime_providers_tensorrt.so" ]; then
  row "ONNX Runtime" "GPU build in $app_dir"
  for p in tensorrt cuda shared; do
    if [ -e "$app_dir/libonnxruntime_providers_$p.so" ]; then row "" "libonnxruntime_providers_$p.so: present"; else row "" "libonnxruntime_providers_$p.so: MISSING"; fi
  done
else
  row "ONNX Runtime" "CPU-only build in $app_dir (install.sh --onnxruntime-dir DIR puts a JetPack build there; see deploy/jetson/README.md)"
fi

if command -v nvpmodel >/dev/null; then
  row "power mode" "$(nvpmodel -q 2>/dev/null | head -n1)"
fi
if command -v jetson_clocks >/dev/null; then
  row "clocks" "jetson_clocks available (sudo jetson_clocks --show)"
fi
row "GPU nodes" "$(ls /dev/nvmap /dev/nvhost-* /dev/nvgpu/igpu0/* /dev/dri/renderD* 2>/dev/null | tr '\n' ' ' || true)"
row "/proc/devices" "$(awk '/^Character/ {c=1; next} /^Block/ {c=0} c && ($2 ~ /nv|host1x|drm|video|gpio|alsa/) {printf "%s ", $2}' /proc/devices)"

echo
if [ ! -x "$bin" ]; then
  echo "check.sh: $bin not found; install first (deploy/install.sh) or pass the binary's path" >&2
  exit 2
fi
export STATE_DIRECTORY="${STATE_DIRECTORY:-/var/lib/autoglm}" CACHE_DIRECTORY="${CACHE_DIRECTORY:-/var/cache/autoglm}"
if [ -d /usr/local/cuda/lib64 ]; then
  export LD_LIBRARY_PATH="/usr/local/cuda/lib64:/usr/lib/aarch64-linux-gnu/tegra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
exec "$bin" doctor "$@"
