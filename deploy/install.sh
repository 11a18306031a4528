#!/usr/bin/env bash
# Installs AutoGlm.Edge as the systemd service autoglm-edge on Raspberry Pi OS, Ubuntu or JetPack (arm64 or x64).
#
#   sudo deploy/install.sh                      # publish from this checkout (needs the .NET 10 SDK) and start the service
#   sudo deploy/install.sh --tarball FILE.tgz   # unpack a self-contained build instead
#   sudo deploy/install.sh --uninstall [--purge]
#   deploy/install.sh --dry-run                 # print every step, change nothing
#   DESTDIR=/tmp/stage deploy/install.sh --from-dir build/   # stage the tree; users and systemctl are only printed
#
# Running it again upgrades the binaries and unit and keeps /etc/autoglm/edge.json and the state folder.
set -euo pipefail

readonly here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly repo="$(dirname "$here")"
readonly unit=autoglm-edge.service
readonly user=autoglm
readonly groups=(gpio video audio)

DESTDIR="${DESTDIR:-}"
prefix=/opt/autoglm
mode=install
purge=0
dry_run=0
start=1
tarball=""
from_dir=""
arch=""
jetson=auto
memory_gb=""
build_dir=""
ort_dir=""

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<'USAGE'
Options:
  --tarball FILE     unpack FILE (a tar.gz of a self-contained publish) instead of publishing
  --from-dir DIR     copy an already published folder instead of publishing
  --arch arm64|x64   override the detected architecture
  --jetson|--no-jetson  install the Jetson drop-in and profile (default: when /etc/nv_tegra_release exists)
  --memory-gb N      Jetson module memory for the profile (default: from /proc/meminfo)
  --onnxruntime-dir DIR  put this ONNX Runtime build (libonnxruntime.so and its providers, e.g. the JetPack GPU
                     build) in place of the CPU-only one published with the daemon
  --no-start         install and enable, but do not (re)start the service
  --uninstall        remove the service and /opt/autoglm; keeps /etc/autoglm, state and cache
  --purge            with --uninstall: also remove /etc/autoglm, /var/lib/autoglm, /var/cache/autoglm and the user
  --dry-run          print what would be done and change nothing
  -h, --help         this text
Environment:
  DESTDIR            stage everything under this folder; user, group and systemctl steps are printed, not run
USAGE
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tarball) tarball="${2:?--tarball needs a file}"; shift ;;
    --from-dir) from_dir="${2:?--from-dir needs a folder}"; shift ;;
    --arch) arch="${2:?--arch needs arm64 or x64}"; shift ;;
    --jetson) jetson=1 ;;
    --no-jetson) jetson=0 ;;
    --memory-gb) memory_gb="${2:?--memory-gb needs a number}"; shift ;;
    --onnxruntime-dir) ort_dir="${2:?--onnxruntime-dir needs a folder}"; shift ;;
    --no-start) start=0 ;;
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[ "$purge" -eq 0 ] || [ "$mode" = uninstall ] || die "--purge goes with --uninstall"

# System changes (users, systemctl, udev): run for real only on a live install, printed otherwise.
system() {
  if [ "$dry_run" -eq 1 ] || [ -n "$DESTDIR" ]; then
    echo "would run: $(printf '%q ' "$@")"
  else
    "$@"
  fi
}

# File changes: made under DESTDIR (or /), printed on a dry run.
files() {
  if [ "$dry_run" -eq 1 ]; then
    echo "would run: $(printf '%q ' "$@")"
  else
    "$@"
  fi
}

if [ "$dry_run" -eq 0 ] && [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo), or use --dry-run or DESTDIR=..."
fi

detect_arch() {
  if [ -n "$arch" ]; then
    case "$arch" in arm64|x64) echo "$arch" ;; *) die "--arch must be arm64 or x64 (got '$arch')" ;; esac
    return
  fi
  case "$(uname -m)" in
    aarch64|arm64) echo arm64 ;;
    x86_64|amd64) echo x64 ;;
    *) die "unsupported machine $(uname -m): AutoGlm.Edge runs on 64-bit ARM (Pi 4/5, Jetson) and x64" ;;
  esac
}

is_jetson() {
  case "$jetson" in
    1) return 0 ;;
    0) return 1 ;;
    *) [ -f /etc/nv_tegra_release ] ;;
  esac
}

# The Jetson memory profile for this module: 8, 16, 32 or 64 (GB), rounding down to the nearest one.
jetson_profile() {
  local gb="$memory_gb"
  if [ -z "$gb" ]; then
    gb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1000000 ))
  fi
  if [ "$gb" -ge 60 ]; then echo 64
  elif [ "$gb" -ge 30 ]; then echo 32
  elif [ "$gb" -ge 15 ]; then echo 16
  else echo 8
  fi
}

# Puts a self-contained build into $1: from --from-dir, --tarball, or dotnet publish of this checkout.
obtain_build() {
  local out="$1" rid="linux-$(detect_arch)"
  if [ -n "$from_dir" ]; then
    [ -x "$from_dir/autoglm-edge" ] || die "$from_dir has no executable autoglm-edge"
    cp -a "$from_dir/." "$out/"
  elif [ -n "$tarball" ]; then
    [ -f "$tarball" ] || die "no such tarball: $tarball"
    tar -xzf "$tarball" -C "$out"
    # Accept a tarball whose files sit in one top folder.
    if [ ! -e "$out/autoglm-edge" ] && [ "$(find "$out" -mindepth 1 -maxdepth 1 | wc -l)" -eq 1 ]; then
      local top; top="$(find "$out" -mindepth 1 -maxdepth 1)"
      mv "$top"/* "$out/" && rmdir "$top"
    fi
    [ -x "$out/autoglm-edge" ] || die "$tarball holds no executable autoglm-edge"
  else
    command -v dotnet >/dev/null || die "the .NET 10 SDK is needed to publish (or pass --tarball / --from-dir)"
    say "publishing for $rid (self-contained, a few minutes on a Pi)"
    dotnet publish "$repo/src/AutoGlm.Edge" -c Release -r "$rid" --self-contained -p:DebugType=none -o "$out" >&2
  fi
}

install_files() {
  local root="$DESTDIR"
  say "installing into $root$prefix ($(detect_arch))"
  if [ "$dry_run" -eq 1 ]; then
    echo "would run: publish or unpack a linux-$(detect_arch) self-contained build into $prefix"
  else
    build_dir="$(mktemp -d)"
    trap 'rm -rf "$build_dir"' EXIT
    obtain_build "$build_dir"
    mkdir -p "$root$(dirname "$prefix")"
    # Swap in the new tree whole, so a half-copied upgrade never runs.
    rm -rf "$root$prefix.new"
    cp -a "$build_dir" "$root$prefix.new"
    if [ -n "$ort_dir" ]; then
      # .NET loads the libonnxruntime.so beside the app before any on LD_LIBRARY_PATH, so the GPU build replaces it.
      ls "$ort_dir"/libonnxruntime*.so* >/dev/null 2>&1 || die "$ort_dir holds no libonnxruntime*.so"
      cp -a "$ort_dir"/libonnxruntime*.so* "$root$prefix.new/"
    fi
    chmod 0755 "$root$prefix.new" "$root$prefix.new/autoglm-edge"
    rm -rf "$root$prefix"
    mv "$root$prefix.new" "$root$prefix"
  fi
  files mkdir -p "$root/usr/local/bin"
  files ln -sfn "$prefix/autoglm-edge" "$root/usr/local/bin/autoglm-edge"

  files install -D -m 0644 "$here/systemd/$unit" "$root/etc/systemd/system/$unit"
  files install -D -m 0644 "$here/systemd/60-autoglm-gpio.rules" "$root/etc/udev/rules.d/60-autoglm-gpio.rules"
  # Where the unit's Documentation= points, as the .deb lays it out.
  files install -D -m 0644 "$repo/README.md" "$root/usr/share/doc/autoglm-edge/README.md"
  files install -d -m 0755 "$root/etc/autoglm"
  if [ -e "$root/etc/autoglm/edge.json" ]; then
    say "keeping the existing /etc/autoglm/edge.json"
  else
    files install -m 0640 "$here/systemd/edge.json" "$root/etc/autoglm/edge.json"
  fi

  if is_jetson; then
    local profile; profile="$(jetson_profile)"
    say "Jetson: TensorRT drop-in and the ${profile} GB memory profile"
    files install -D -m 0644 "$here/jetson/autoglm-edge.service.d/jetson.conf" "$root/etc/systemd/system/$unit.d/jetson.conf"
    # Name order: 10-jetson.json, then 20-memory.json, then edge.json, so the operator's edge.json wins.
    files install -m 0644 "$here/jetson/appsettings.Jetson.json" "$root/etc/autoglm/10-jetson.json"
    files install -m 0644 "$here/jetson/memory/orin-${profile}gb.json" "$root/etc/autoglm/20-memory.json"
  else
    # A machine installed earlier with --jetson and now without gets back to the plain profile.
    files rm -rf "$root/etc/systemd/system/$unit.d/jetson.conf" "$root/etc/autoglm/10-jetson.json" "$root/etc/autoglm/20-memory.json"
  fi
}

create_user() {
  local g
  for g in "${groups[@]}" $(is_jetson && echo render); do
    if ! getent group "$g" >/dev/null || [ -n "$DESTDIR" ] || [ "$dry_run" -eq 1 ]; then
      system groupadd --system -f "$g"
    fi
  done
  if ! getent passwd "$user" >/dev/null || [ -n "$DESTDIR" ] || [ "$dry_run" -eq 1 ]; then
    system useradd --system --user-group --home-dir /var/lib/autoglm --no-create-home --shell /usr/sbin/nologin --comment "AutoGlm.Edge daemon" "$user"
  fi
  system chgrp "$user" /etc/autoglm/edge.json
}

start_service() {
  system udevadm control --reload-rules
  system udevadm trigger --subsystem-match=gpio
  system systemctl daemon-reload
  system systemctl enable "$unit"
  if [ "$start" -eq 1 ]; then
    # restart, not start: a second run must pick up the new binaries.
    system systemctl restart "$unit"
  fi
}

uninstall() {
  local root="$DESTDIR"
  say "removing the autoglm-edge service"
  system systemctl disable --now "$unit"
  files rm -rf "$root/etc/systemd/system/$unit" "$root/etc/systemd/system/$unit.d" "$root$prefix" "$root$prefix.new" \
    "$root/usr/local/bin/autoglm-edge" "$root/etc/udev/rules.d/60-autoglm-gpio.rules" "$root/usr/share/doc/autoglm-edge"
  system systemctl daemon-reload
  if [ "$purge" -eq 1 ]; then
    say "purging configuration, state, cache and the $user user"
    files rm -rf "$root/etc/autoglm" "$root/var/lib/autoglm" "$root/var/cache/autoglm"
    system userdel "$user"
  else
    say "kept /etc/autoglm, /var/lib/autoglm and /var/cache/autoglm (--purge removes them)"
  fi
}

if [ "$mode" = uninstall ]; then
  uninstall
  exit 0
fi

install_files
create_user
start_service

cat <<DONE

AutoGlm.Edge is installed as $unit.
  watch it:        journalctl -u autoglm-edge -f
  check it:        sudo -u $user STATE_DIRECTORY=/var/lib/autoglm CACHE_DIRECTORY=/var/cache/autoglm $prefix/autoglm-edge doctor
  talk to it:      curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
                     -d '{"messages":[{"role":"user","content":"hello"}],"max_tokens":32}'
  over MQTT:       mosquitto_pub -h 127.0.0.1 -t autoglm/\$(hostname)/jobs -m '{"id":"1","prompt":"hello"}'
  configure it:    /etc/autoglm/edge.json, then: sudo systemctl restart autoglm-edge
  remove it:       sudo $0 --uninstall [--purge]
DONE
