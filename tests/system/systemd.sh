#!/usr/bin/env bash
# The systemd suite: the amd64 .deb built from this tree, installed into a minimal Debian booted with systemd under
# systemd-nspawn, and checked there: install (with the HTTP port busy), READY before active, the journal, HTTP, an
# MQTT job, doctor, the security score of the live unit, a draining stop, the watchdog, remove and purge.
#
#   sudo tests/system/systemd.sh            # everything (the first run debootstraps the root: about 1.5 min)
#   KEEP=1 tests/system/systemd.sh          # keep the scratch folder (the booted root and its console log)
#   AUTOGLM_SYSTEM_REUSE_PUBLISH=1 ...      # reuse artifacts/system/publish-linux-x64 instead of publishing again
# Needs root, systemd-container and debootstrap (installed when missing); see tests/system/README.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$system_dir/checks.sh"

need_root
need_packages systemd-container debootstrap
suite_start=$SECONDS
make_work

root="$(cached_root)"
published="$(publish linux-x64)" || exit 1
deb="$(package amd64 "$published")" || exit 1
boot_container "$root" "$(dirname "$deb")"
say "container up (systemd $(ct systemctl --version | head -n 1 | cut -d' ' -f2)); testing $(basename "$deb")"
ct getent group gpio >/dev/null && die "the root already has a gpio group; purge's removal of the group it created cannot be shown"

# The doctor's broker check, run as the service user beside the live daemon: the broker is the daemon's own.
check_doctor_sees_own_broker() {
  local out
  out="$(ct runuser -u autoglm -- env STATE_DIRECTORY=/var/lib/autoglm CONFIGURATION_DIRECTORY=/etc/autoglm /opt/autoglm/autoglm-edge doctor 2>&1 || true)"
  echo "$out"
  expect "doctor to say the broker is this daemon's" "mqtt.*this daemon's" "$(grep -i mqtt <<<"$out")"
}

check_security_score() {
  local out score
  out="$(ct systemd-analyze security --no-pager "$unit" 2>&1)"
  score="$(grep -oE 'Overall exposure level for autoglm-edge.service: [0-9.]+' <<<"$out" | awk '{print $NF}')"
  echo "systemd-analyze security on the live unit: ${score:-none}"
  [ -n "$score" ] || { echo "$out"; return 1; }
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "$out"; echo "exposure $score is above 2.0"; return 1; }
}

engine_busy() { ct curl -s "$http/metrics" | grep -Eq '^[a-z_]*active_sequences(\{[^}]*\})? [1-9]'; }
restarted_since() { [ "$(unit_prop MainPID)" != "$1" ] && [ "$(unit_prop NRestarts)" -gt "$2" ] && unit_is_active; }

# A job is running when systemctl stop comes: the daemon lets it finish (within Mqtt:ShutdownGracePeriod, 10 s: the
# job is short enough for that here), publishes its result, exits cleanly.
check_stop_drains() {
  local device since answer_file rr_pid journal
  device="$(ct cat /proc/sys/kernel/hostname)"
  answer_file="$work/drain-answer"
  since="$(ct_now)"
  ct mosquitto_rr -V mqttv5 -h 127.0.0.1 -q 1 -t "autoglm/$device/jobs" -e ci/answers/drain-1 -W 120 \
    -m '{"id":"drain-1","prompt":"Tell a long story","max_tokens":120,"seed":2}' >"$answer_file" 2>&1 &
  rr_pid=$!
  # The job holds an engine slot while it generates: the daemon's metrics show it.
  wait_for 30 "the drain job to hold an engine slot (active_sequences in /metrics)" engine_busy || return 1
  ct systemctl stop "$unit"
  wait "$rr_pid" || true
  journal="$(unit_journal "$since")"
  echo "answer: $(head -c 300 "$answer_file")"
  grep -q 'letting 1 running jobs finish' <<<"$journal" || { echo "$journal" | tail -n 20; echo "no drain line: the job was not running at stop"; return 1; }
  expect "the drained job's result" '"id":"drain-1".*"text":"' "$(cat "$answer_file")" || { echo "$journal" | tail -n 25; return 1; }
  expect "a clean stop" "^success$" "$(unit_prop Result)"
  expect "the unit to be inactive" "^inactive$" "$(unit_prop ActiveState)"
}

# With a drop-in WatchdogSec=10s, a daemon stopped with SIGSTOP sends no pings: systemd kills it and restarts it.
check_watchdog_restarts_stalled() {
  local pid restarts since
  ct mkdir -p "/etc/systemd/system/$unit.d"
  ct sh -c "printf '[Service]\nWatchdogSec=10s\n' > /etc/systemd/system/$unit.d/ci-watchdog.conf"
  ct systemctl daemon-reload
  ct systemctl restart "$unit"
  pid="$(unit_prop MainPID)"
  restarts="$(unit_prop NRestarts)"
  since="$(ct_now)"
  ct kill -STOP "$pid"
  echo "stopped PID $pid with SIGSTOP (NRestarts $restarts)"
  wait_for 120 "systemd to kill and restart the stalled daemon" restarted_since "$pid" "$restarts" \
    || { ct systemctl status --no-pager "$unit"; return 1; }
  local journal; journal="$(unit_journal "$since")"
  grep -m1 'Watchdog timeout' <<<"$journal" || { echo "$journal" | tail -n 20; echo "no 'Watchdog timeout' in the journal"; return 1; }
  echo "restarted as PID $(unit_prop MainPID), NRestarts $(unit_prop NRestarts)"
  ct rm -f "/etc/systemd/system/$unit.d/ci-watchdog.conf"
  ct systemctl daemon-reload
}

check "dpkg -i with the HTTP port busy: configured, says it did not start, no adduser warning" check_install_with_port_busy "$deb"
check "active only after READY (model loaded before 'Started')" check_active_only_after_ready
check "journalctl -u autoglm-edge shows the start lines" check_journal_start_lines
check "/health/ready and a chat completion answer" check_http
check "an MQTT job is answered" check_mqtt_job
check "doctor: the broker on 127.0.0.1:1883 is this daemon's" check_doctor_sees_own_broker
check "systemd-analyze security on the live unit <= 2.0" check_security_score
check "systemctl stop drains the running job" check_stop_drains
check "a stalled daemon is killed by the watchdog and restarted" check_watchdog_restarts_stalled
check "dpkg -r stops and disables" check_remove "$(basename "$deb")"
check "dpkg --purge removes user, groups, configuration and state" check_purge
say "all checks passed in $((SECONDS - suite_start)) s"
