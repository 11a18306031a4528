# Shared by the system suites (systemd.sh, pi.sh): sourced, not run.
# shellcheck shell=bash

readonly system_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly repo="$(cd "$system_dir/../.." && pwd)"
readonly cache="${HOME}/.cache/autoglm-tests"
readonly suite_name="$(basename "$0" .sh)"

# What the booted root holds besides minbase; the cached root is keyed by this list (and the suite and mirror).
readonly root_packages="systemd,systemd-sysv,dbus,adduser,procps,curl,mosquitto-clients,libstdc++6,zlib1g"
# The arm64 libraries the linux-arm64 build needs (ICU is not: the build uses invariant globalization).
readonly arm64_packages="libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 zlib1g:arm64 libssl3:arm64"
readonly debian_suite=bookworm

step_started=0
say() { printf '[%s %s] %s\n' "$suite_name" "$(date -u +%H:%M:%S)" "$*"; }
die() { printf '[%s] FAILED: %s\n' "$suite_name" "$*" >&2; exit 1; }

# check NAME COMMAND...: runs the command, says ok with its time, or fails the suite with what it printed.
check() {
  local name="$1" out start rc
  shift
  start=$SECONDS
  set +e
  # errexit inside the check too: a command that fails stops it (and is reported with everything it printed).
  out="$(set -e; "$@" 2>&1)"
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    printf '[%s] FAILED: %s (exit %d)\n%s\n' "$suite_name" "$name" "$rc" "$out" >&2
    exit 1
  fi
  say "ok: $name ($((SECONDS - start)) s)"
  [ -z "${VERBOSE:-}" ] || printf '%s\n' "$out"
}

# expect WHAT PATTERN TEXT: fails (printing TEXT) unless TEXT matches the extended regex PATTERN.
expect() {
  if ! grep -Eq -- "$2" <<<"$3"; then
    printf 'expected %s (/%s/), saw:\n%s\n' "$1" "$2" "$3" >&2
    return 1
  fi
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, systemd-nspawn, mount namespaces)"
}

# Installs the host tools a suite needs when missing (Debian package names).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The Debian mirror apt is configured with (the first deb.debian.org-style URI), for debootstrap.
debian_mirror() {
  local uri
  uri="$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | head -n 1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# Registers QEMU's aarch64 interpreter with binfmt_misc (fix-binary, so it also works inside containers).
enable_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
    || die "cannot mount binfmt_misc (a container without CAP_SYS_ADMIN?)"
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null \
    || die "update-binfmts could not register qemu-aarch64"
  grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || die "qemu-aarch64 is registered without the fix-binary flag; containers cannot use it"
}

# Prints the path of a cached minbase root with systemd (and arm64 libraries), building it once per package list.
cached_root() {
  local mirror key root stage start
  mirror="$(debian_mirror)"
  key="$(printf '%s\n' "$debian_suite" "$mirror" "$root_packages" "$arm64_packages" | sha256sum | cut -c1-16)"
  root="$cache/nspawn-root-$key"
  if [ -x "$root/lib/systemd/systemd" ] && [ -f "$root/.autoglm-root-complete" ]; then
    echo "$root"
    return
  fi
  mkdir -p "$cache"
  stage="$root.partial"
  rm -rf "$stage"
  start=$SECONDS
  say "debootstrap $debian_suite (minbase + $root_packages) from $mirror into $root (once per machine)" >&2
  debootstrap --variant=minbase --include="$root_packages" "$debian_suite" "$stage" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -n 30 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  # The arm64 .deb's dependencies (libc6:arm64 ...), for the Pi build installed into this systemd.
  chroot "$stage" dpkg --add-architecture arm64
  cp /etc/resolv.conf "$stage/etc/resolv.conf"
  { chroot "$stage" apt-get update -qq && DEBIAN_FRONTEND=noninteractive chroot "$stage" apt-get install -y -qq --no-install-recommends $arm64_packages \
      && chroot "$stage" apt-get clean; } >>"$cache/debootstrap.log" 2>&1 \
    || { tail -n 30 "$cache/debootstrap.log" >&2; die "installing the arm64 libraries into the root failed (log: $cache/debootstrap.log)"; }
  # A fixed machine id and hostname, so journald keeps logs and MQTT topics are predictable.
  echo autoglm-ci > "$stage/etc/hostname"
  chroot "$stage" systemd-machine-id-setup >/dev/null 2>&1 || true
  touch "$stage/.autoglm-root-complete"
  mv "$stage" "$root"
  say "root ready in $((SECONDS - start)) s" >&2
  echo "$root"
}

# The suite's scratch folder (on disk: a booted root does not fit a small /tmp), removed at exit unless KEEP=1.
work=""
ct_nspawn_pid=""
ct_leader=""
make_work() {
  work="$(mktemp -d "/var/tmp/autoglm-$suite_name.XXXXXX")"
  trap cleanup EXIT
}

cleanup() {
  local rc=$?
  stop_container
  if [ -n "$work" ] && [ -d "$work" ]; then
    if [ -n "${KEEP:-}" ]; then
      say "kept $work (KEEP is set)"
    else
      # Whatever is still mounted below the scratch folder goes first; rm never crosses into another file system.
      { grep -o " $work[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
      rm -rf --one-file-system "$work"
    fi
  fi
  exit $rc
}

# boot_container ROOT HOSTDIR: boots a copy of ROOT under systemd-nspawn (its own network namespace: nothing reaches
# the host's ports), HOSTDIR read-only at /mnt/autoglm inside, and waits until its systemd is up.
boot_container() {
  local root="$1" share="$2" i state
  cp -a --reflink=auto "$root" "$work/root"
  systemd-nspawn -D "$work/root" --boot --register=no --keep-unit --console=passive --private-network \
    --machine=autoglm-ci --bind-ro="$share:/mnt/autoglm" >"$work/console.log" 2>&1 &
  ct_nspawn_pid=$!
  for i in $(seq 1 200); do
    ct_leader="$(ps -o pid= --ppid "$ct_nspawn_pid" 2>/dev/null | head -n 1 | tr -d ' ' || true)"
    [ -n "$ct_leader" ] && [ "$(cat "/proc/$ct_leader/comm" 2>/dev/null)" = systemd ] && break
    kill -0 "$ct_nspawn_pid" 2>/dev/null || { cat "$work/console.log" >&2; die "systemd-nspawn exited while booting"; }
    ct_leader=""
    sleep 0.1
  done
  [ -n "$ct_leader" ] || { cat "$work/console.log" >&2; die "the container's systemd did not appear within 20 s"; }
  # systemctl answers once PID 1 has its private socket; then --wait until the boot is done.
  wait_for 60 "the container's systemd to take requests" ct test -S /run/systemd/private || { cat "$work/console.log" >&2; die "the container's systemd did not come up"; }
  state="$(ct timeout 120 systemctl is-system-running --wait 2>&1 || true)"
  case "$state" in
    running) ;;
    degraded) say "container booted degraded; failed units: $(ct systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
    *) cat "$work/console.log" >&2; die "the container's systemd did not come up (is-system-running: $state)" ;;
  esac
}

# ct COMMAND...: runs COMMAND inside the booted container (all its namespaces), with a clean environment.
ct() {
  nsenter -t "$ct_leader" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

stop_container() {
  [ -n "$ct_nspawn_pid" ] || return 0
  if kill -0 "$ct_nspawn_pid" 2>/dev/null; then
    ct systemctl poweroff --no-block >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$ct_nspawn_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$ct_nspawn_pid" 2>/dev/null && kill -KILL "$ct_nspawn_pid" 2>/dev/null || true
  fi
  wait "$ct_nspawn_pid" 2>/dev/null || true
  ct_nspawn_pid=""
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND (every 0.5 s) until it succeeds; fails saying WHAT was awaited.
wait_for() {
  local limit="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "waited ${limit} s for $what" >&2; return 1; }
    sleep 0.5
  done
}

# The version the tree builds (what the .deb and the daemon report).
tree_version() {
  sed -n 's:.*<Version>\([^<]*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1
}

# publish RID: a self-contained Release publish of the daemon into artifacts/system/publish-RID (reused when
# AUTOGLM_SYSTEM_REUSE_PUBLISH is set and it exists); prints the folder.
publish() {
  local rid="$1" out="$repo/artifacts/system/publish-$1" start=$SECONDS
  mkdir -p "$repo/artifacts/system"
  if [ -n "${AUTOGLM_SYSTEM_REUSE_PUBLISH:-}" ] && [ -x "$out/autoglm-edge" ]; then
    say "reusing $out" >&2
  else
    say "dotnet publish -r $rid (self-contained)" >&2
    dotnet publish "$repo/src/AutoGlm.Edge" -c Release -r "$rid" --self-contained -p:DebugType=none -o "$out" \
      >"$repo/artifacts/system/publish-$rid.log" 2>&1 \
      || { tail -n 30 "$repo/artifacts/system/publish-$rid.log" >&2; die "dotnet publish -r $rid failed"; }
    say "published $rid in $((SECONDS - start)) s" >&2
  fi
  echo "$out"
}

# package ARCH DIR: deploy/package-deb.sh over a published folder; prints the .deb's path.
package() {
  local start=$SECONDS deb
  # Uncompressed: xz takes minutes on a small machine, and what is tested is the same.
  deb="$("$repo/deploy/package-deb.sh" --arch "$1" --from-dir "$2" --out "$repo/artifacts/system/deb" --compression none)" \
    || die "deploy/package-deb.sh --arch $1 failed"
  say "packaged $(basename "$deb") in $((SECONDS - start)) s" >&2
  echo "$deb"
}
