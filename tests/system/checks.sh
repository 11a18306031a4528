# The checks run against the package installed in the booted container; sourced by systemd.sh and pi.sh.
# Each prints what it saw and returns non-zero when that is not what it should be (check() in lib.sh reports it).
# shellcheck shell=bash

unit=autoglm-edge.service
http=http://127.0.0.1:8000

unit_prop() { ct systemctl show -P "$1" "$unit"; }
unit_is_active() { [ "$(unit_prop ActiveState)" = active ]; }
# Epoch seconds inside the container, for journalctl --since.
ct_now() { ct date +%s; }
unit_journal() { ct journalctl --no-pager -o cat -u "$unit" --since "@$1"; }

# A fresh install while another process holds the HTTP port: dpkg -i must succeed, configure the package and say
# that the service did not start; and adduser must not warn about the home folder.
check_install_with_port_busy() {
  local deb="$1" out rc
  ct systemd-run --quiet --unit=ci-port-holder systemd-socket-activate -l 127.0.0.1:8000 /bin/sleep 600
  wait_for 20 "the port holder to listen on 127.0.0.1:8000" ct grep -q ':1F40 00000000:0000 0A' /proc/net/tcp || return 1
  set +e
  out="$(ct dpkg -i "/mnt/autoglm/$(basename "$deb")" 2>&1)"
  rc=$?
  set -e
  echo "$out"
  [ $rc -eq 0 ] || { echo "dpkg -i exited $rc with the port busy (it must configure the package anyway)"; return 1; }
  expect "the install to say the service did not start" "did not start" "$out"
  if grep -Eiq "can't be accessed|warning" <<<"$out"; then
    echo "dpkg -i printed a warning (above)"
    return 1
  fi
  expect "the package to be configured" "^install ok installed$" "$(ct dpkg-query -W -f='${Status}' autoglm-edge)"
  expect "the unit to be enabled" "^enabled$" "$(ct systemctl is-enabled "$unit" 2>&1 || true)"
  ct systemctl stop ci-port-holder.service
}

# A start is 'active' only once READY=1 came: while the model loads the unit is 'activating', and the journal has
# the model loaded before systemd's 'Started'.
check_active_only_after_ready() {
  local since state loaded started
  ct systemctl stop "$unit"
  ct systemctl reset-failed "$unit" 2>/dev/null || true
  since="$(ct_now)"
  ct systemctl start --no-block "$unit"
  state="$(unit_prop ActiveState)/$(unit_prop SubState)"
  echo "right after start: $state"
  [ "$state" = activating/start ] || { echo "expected activating/start while the daemon loads"; return 1; }
  wait_for "${START_LIMIT:-120}" "the unit to become active" unit_is_active || { ct systemctl status --no-pager "$unit"; return 1; }
  local journal; journal="$(unit_journal "$since")"
  loaded="$(grep -n -m1 'Loaded model' <<<"$journal" | cut -d: -f1 || true)"
  started="$(grep -n -m1 '^Started autoglm-edge.service' <<<"$journal" | cut -d: -f1 || true)"
  echo "journal: 'Loaded model' at line ${loaded:-none}, 'Started' at line ${started:-none}"
  [ -n "$loaded" ] && [ -n "$started" ] && [ "$loaded" -lt "$started" ] || { echo "$journal"; echo "the model was not loaded before systemd called the unit started"; return 1; }
  expect "the status text the daemon sends with READY" "^ready: model loaded" "$(unit_prop StatusText)"
}

check_journal_start_lines() {
  local journal; journal="$(ct journalctl --no-pager -o cat -u "$unit" -b)"
  local line
  for line in 'State folder: /var/lib/autoglm' 'Loaded model glm-synthetic-tiny' 'Embedded MQTT broker listening on 127.0.0.1:1883' \
    'Now listening on: http://127.0.0.1:8000' 'Told systemd READY=1'; do
    grep -qF "$line" <<<"$journal" || { echo "$journal"; echo "journalctl -u $unit has no line '$line'"; return 1; }
  done
  if grep -Eiq 'telemetry|\.cache/Microsoft' <<<"$journal"; then
    echo "$journal"; echo "ONNX Runtime's telemetry ran (it must be off)"; return 1
  fi
  echo "the start lines are there, and nothing from ONNX Runtime's telemetry"
}

check_http() {
  local ready chat
  ready="$(ct curl -sS -o /dev/stdout -w ' HTTP %{http_code}' "$http/health/ready")"
  echo "/health/ready: $ready"
  expect "/health/ready to answer 200" "HTTP 200$" "$ready"
  chat="$(ct curl -sS -m "${CHAT_LIMIT:-60}" -w ' HTTP %{http_code}' "$http/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"seed":1}')"
  echo "chat: $chat"
  expect "a 200 chat completion" "HTTP 200$" "$chat"
  expect "a choice with content" '"choices":\[\{.*"content":"' "$chat"
}

check_mqtt_job() {
  local device answer
  device="$(ct cat /proc/sys/kernel/hostname)"
  answer="$(ct mosquitto_rr -V mqttv5 -h 127.0.0.1 -q 1 -t "autoglm/$device/jobs" -e "ci/answers/mqtt-1" -W "${CHAT_LIMIT:-60}" \
    -m '{"id":"mqtt-1","prompt":"Hello","max_tokens":8,"seed":1}' 2>&1)" || { echo "mosquitto_rr: $answer"; return 1; }
  echo "result: $answer"
  expect "the job's result" '"id":"mqtt-1"' "$answer"
  expect "generated text" '"text":"' "$answer"
}

check_remove() {
  local deb_name="$1" out
  out="$(ct dpkg -r autoglm-edge 2>&1)" || { echo "$out"; return 1; }
  echo "$out"
  expect "the unit to be stopped" "^(inactive|unknown)$" "$(ct systemctl is-active "$unit" 2>&1 || true)"
  if ct test -e "/etc/systemd/system/multi-user.target.wants/$unit"; then echo "still enabled after dpkg -r"; return 1; fi
  if ct pgrep -f /opt/autoglm/autoglm-edge; then echo "the daemon still runs after dpkg -r"; return 1; fi
  if ct test -e /opt/autoglm/autoglm-edge; then echo "/opt/autoglm/autoglm-edge is still there"; return 1; fi
  ct test -f /etc/autoglm/edge.json || { echo "dpkg -r removed the conffile /etc/autoglm/edge.json (only purge may)"; return 1; }
  echo "stopped, disabled, binaries gone, configuration kept ($deb_name)"
}

check_purge() {
  local out what
  out="$(ct dpkg --purge autoglm-edge 2>&1)" || { echo "$out"; return 1; }
  echo "$out"
  if ct getent passwd autoglm; then echo "the user autoglm is still there"; return 1; fi
  for what in autoglm gpio; do
    if ct getent group "$what"; then echo "the group $what (created by the package) is still there"; return 1; fi
  done
  for what in /etc/autoglm /var/lib/autoglm /var/cache/autoglm; do
    if ct test -e "$what"; then echo "$what is still there after purge"; return 1; fi
  done
  echo "user, groups autoglm and gpio, /etc/autoglm, /var/lib/autoglm and /var/cache/autoglm are gone"
}
