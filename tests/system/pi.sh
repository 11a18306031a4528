#!/usr/bin/env bash
# The Pi suite: the linux-arm64 self-contained build run under QEMU user mode (binfmt_misc), with the /proc/cpuinfo
# of a Raspberry Pi 5 (Cortex-A76) and of a Pi 4 (Cortex-A72) bind-mounted in a private mount namespace:
# doctor, chat, chat --image, chat --audio and run (an HTTP and an MQTT job answered); then the arm64 .deb installed
# into the Debian booted with systemd (systemd.sh's root) and answering there.
#
#   sudo tests/system/pi.sh                 # everything
#   PI_MODELS=pi5-cortex-a76 tests/system/pi.sh   # one CPU model (the names of cpuinfo/*.cpu)
#   PI_SKIP_DEB=1 tests/system/pi.sh        # without the .deb under systemd
#   AUTOGLM_SYSTEM_REUSE_PUBLISH=1 ...      # reuse artifacts/system/publish-linux-arm64
# Needs root, qemu-user-static, binfmt-support, systemd-container, debootstrap (installed when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$system_dir/checks.sh"

need_root
need_packages qemu-user-static binfmt-support systemd-container debootstrap iproute2
suite_start=$SECONDS
enable_binfmt
make_work

root="$(cached_root)"
published="$(publish linux-arm64)" || exit 1
file -b "$published/autoglm-edge" 2>/dev/null | grep -q aarch64 || [ "$(od -An -tx1 -j18 -N2 "$published/autoglm-edge" | tr -d ' ')" = b700 ] \
  || die "$published/autoglm-edge is not an arm64 executable"

# The arm64 programs run chrooted into a copy of the Debian root, which holds the arm64 libc, libstdc++ and zlib
# (dpkg --add-architecture arm64 there, so the host's package set is left alone), with the publish at
# /opt/autoglm-arm64, a private network namespace (its own loopback: ports 1883 and 8000 of the host stay free), and
# the Pi's cpuinfo over /proc/cpuinfo: ONNX Runtime's CPU detection crashes on the host's x86 one.
chroot_dir="$work/chroot"
cp -a --reflink=auto "$root" "$chroot_dir"
mkdir -p "$chroot_dir/opt/autoglm-arm64" "$chroot_dir/ci"
/usr/bin/python3 - "$chroot_dir/ci" <<'PY'
import math, struct, sys, wave, zlib
out = sys.argv[1]
# A 64x48 gradient PNG and a one-second 440 Hz 16 kHz mono WAV.
w, h = 64, 48
rows = b"".join(b"\0" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(w)) for y in range(h))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(f"{out}/frame.png", "wb").write(png)
with wave.open(f"{out}/clip.wav", "wb") as clip:
    clip.setnchannels(1); clip.setsampwidth(2); clip.setframerate(16000)
    clip.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16000))) for i in range(16000)))
PY

# cpuinfo_for MODEL FILE: one processor block per host CPU (so /proc/cpuinfo and /sys agree), then the board lines.
cpuinfo_for() {
  local i n; n="$(nproc --all)"
  : > "$2"
  for ((i = 0; i < n; i++)); do
    { printf 'processor\t: %d\n' "$i"; cat "$system_dir/cpuinfo/$1.cpu"; echo; } >> "$2"
  done
  cat "$system_dir/cpuinfo/$1.board" >> "$2"
}

cat > "$work/enter.sh" <<'ENTER'
#!/bin/bash
# enter.sh ROOT CPUINFO PUBLISHED COMMAND...: runs COMMAND chrooted into ROOT, in the namespaces unshare made.
set -euo pipefail
r="$1" cpu="$2" pub="$3"
shift 3
mount --make-rprivate /
ip link set lo up
mount -t proc proc "$r/proc"
mount --bind "$cpu" "$r/proc/cpuinfo"
mount --rbind /dev "$r/dev"
mount --rbind /sys "$r/sys"
mount -t tmpfs tmpfs "$r/tmp"
mount --bind "$pub" "$r/opt/autoglm-arm64"
# The .NET JIT's W^X double mapping crashes under QEMU user mode.
exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 DOTNET_EnableWriteXorExecute=0 \
  STATE_DIRECTORY=/var/lib/autoglm-pi "$@"
ENTER
chmod +x "$work/enter.sh"

# on_pi COMMAND...: COMMAND on the emulated Pi of the current model (cpuinfo in $work/cpuinfo-$model).
on_pi() {
  unshare -m -n -- "$work/enter.sh" "$chroot_dir" "$work/cpuinfo-$model" "$published" "$@"
}
edge() { on_pi /opt/autoglm-arm64/autoglm-edge "$@"; }

check_doctor() {
  local out; out="$(edge doctor 2>&1 || true)"
  echo "$out"
  expect "doctor to see an arm64 machine" "machine.*arm64" "$out"
  expect "the CPU provider to be usable" "provider cpu.*can be created" "$out"
}

check_chat() {
  local a b
  a="$(edge chat --prompt "What is on the shelf?" --max-tokens 4 --seed 7)"
  echo "chat: '$a'"
  [ -n "$(tr -d '[:space:]' <<<"$a")" ] || { echo "chat printed no answer"; return 1; }
  # The same seed on the same CPU gives the same text (different CPU models may not: their kernels differ).
  b="$(edge chat --prompt "What is on the shelf?" --max-tokens 4 --seed 7)"
  [ "$a" = "$b" ] || { echo "same seed, same CPU, different text: '$a' then '$b'"; return 1; }
  echo "$a" > "$work/chat-$model.txt"
}

check_chat_image() {
  local a; a="$(edge chat --prompt "What is in the picture?" --image /ci/frame.png --max-tokens 4 --seed 7)"
  echo "chat --image: '$a'"
  [ -n "$(tr -d '[:space:]' <<<"$a")" ] || { echo "chat --image printed no answer"; return 1; }
}

check_chat_audio() {
  local a; a="$(edge chat --prompt "What do you hear?" --audio /ci/clip.wav --max-tokens 4 --seed 7)"
  echo "chat --audio: '$a'"
  [ -n "$(tr -d '[:space:]' <<<"$a")" ] || { echo "chat --audio printed no answer"; return 1; }
}

# run: the daemon on the emulated Pi, an HTTP chat completion and an MQTT job answered, then a clean stop.
check_run() {
  on_pi /bin/bash -c '
    set -u
    /opt/autoglm-arm64/autoglm-edge run --Mqtt:DeviceId=pi >/tmp/daemon.log 2>&1 &
    daemon=$!
    started=$SECONDS
    until curl -sf -o /dev/null http://127.0.0.1:8000/health/ready; do
      kill -0 $daemon 2>/dev/null || { cat /tmp/daemon.log; echo "the daemon exited before it was ready"; exit 1; }
      [ $((SECONDS - started)) -lt 240 ] || { cat /tmp/daemon.log; echo "not ready within 240 s"; exit 1; }
      sleep 1
    done
    echo "ready in $((SECONDS - started)) s"
    chat=$(curl -sS -m 120 http://127.0.0.1:8000/v1/chat/completions -H "Content-Type: application/json" \
      -d "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":4,\"seed\":1}")
    echo "http: $chat"
    mqtt=$(mosquitto_rr -V mqttv5 -h 127.0.0.1 -q 1 -t autoglm/pi/jobs -e ci/answers/pi-1 -W 120 \
      -m "{\"id\":\"pi-1\",\"prompt\":\"Hello\",\"max_tokens\":4,\"seed\":1}" 2>&1)
    echo "mqtt: $mqtt"
    kill -TERM $daemon; wait $daemon; rc=$?
    echo "daemon exited $rc"
    ok=1
    grep -q "\"choices\":\[{.*\"content\":\"" <<<"$chat" || { echo "no chat completion over HTTP"; ok=0; }
    grep -q "\"id\":\"pi-1\".*\"text\":\"" <<<"$mqtt" || { echo "no MQTT result"; ok=0; }
    [ $rc -eq 0 ] || { tail -n 20 /tmp/daemon.log; echo "the daemon did not stop cleanly"; ok=0; }
    [ $ok -eq 1 ]'
}

for model in ${PI_MODELS:-pi5-cortex-a76 pi4-cortex-a72}; do
  [ -f "$system_dir/cpuinfo/$model.cpu" ] || die "no cpuinfo/$model.cpu (PI_MODELS names the files in tests/system/cpuinfo)"
  cpuinfo_for "$model" "$work/cpuinfo-$model"
  say "emulated $(grep -m1 '^Model' "$work/cpuinfo-$model" | cut -d: -f2- | sed 's/^ *//') (QEMU $(qemu-aarch64-static --version | head -n 1 | awk '{print $3}'))"
  check "$model: doctor" check_doctor
  check "$model: chat (same seed, same text)" check_chat
  check "$model: chat --image" check_chat_image
  check "$model: chat --audio" check_chat_audio
  check "$model: run answers an HTTP and an MQTT job" check_run
done

# The arm64 .deb under the Debian systemd, through binfmt (the fix-binary registration works inside the container).
# Two drop-ins only this emulation needs, put in place before dpkg -i starts the service: the Pi 5 cpuinfo over
# /proc/cpuinfo and W^X off.
check_deb_install() {
  local deb="$1" out
  ct mkdir -p /etc/autoglm-ci "/etc/systemd/system/$unit.d"
  cat "$work/cpuinfo-pi5-cortex-a76" | ct sh -c 'cat > /etc/autoglm-ci/cpuinfo'
  ct sh -c "printf '[Service]\nEnvironment=DOTNET_EnableWriteXorExecute=0\nBindReadOnlyPaths=/etc/autoglm-ci/cpuinfo:/proc/cpuinfo\n' > /etc/systemd/system/$unit.d/ci-emulation.conf"
  out="$(ct dpkg -i "/mnt/autoglm/$(basename "$deb")" 2>&1)" || { echo "$out"; return 1; }
  echo "$out"
  expect "the service to be running after dpkg -i" "autoglm-edge is running" "$out"
  expect "an arm64 package" "^arm64$" "$(ct dpkg-query -W -f='${Architecture}' autoglm-edge)"
  unit_is_active || { ct systemctl status --no-pager "$unit"; return 1; }
}

if [ -z "${PI_SKIP_DEB:-}" ]; then
  deb="$(package arm64 "$published")"
  boot_container "$root" "$(dirname "$deb")"
  ct test -e /proc/sys/fs/binfmt_misc/qemu-aarch64 || say "binfmt_misc is not visible in the container; the host's registration is used"
  CHAT_LIMIT=180
  check "arm64 .deb: dpkg -i under systemd, active once READY" check_deb_install "$deb"
  check "arm64 .deb: /health/ready and a chat completion answer" check_http
  check "arm64 .deb: an MQTT job is answered" check_mqtt_job
  check "arm64 .deb: dpkg --purge" check_purge
fi
say "all checks passed in $((SECONDS - suite_start)) s"
