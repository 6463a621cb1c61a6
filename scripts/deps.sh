#!/usr/bin/env bash
# Installs the tools the tests use when they are missing: coturn's
# turnutils_uclient and turnserver (interop and comparison), iproute2 (network
# namespaces), systemd-analyze (unit verification), clang 14, llvm-strip 14 and
# the libbpf headers (make xdp-check regenerates the XDP program). Debian
# packages only.
set -euo pipefail
need=()
command -v turnutils_uclient >/dev/null || need+=(coturn)
command -v ip >/dev/null || need+=(iproute2)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v clang-14 >/dev/null || need+=(clang-14)
command -v llvm-strip-14 >/dev/null || need+=(llvm-14)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing ${need[*]} and not root; install them with apt-get" >&2
  exit 1
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The coturn package may start a system turnserver on 3478; tests use their
# own ports, but a stray system relay helps nobody.
if command -v systemctl >/dev/null && systemctl is-active --quiet coturn 2>/dev/null; then
  systemctl stop coturn || true
fi
