#!/usr/bin/env bash
# Fails when the committed bpf2go output in xdp/ is not what xdp/bpf/relay.c
# compiles to with the pinned clang (scripts/xdp-gen.sh): a committed BPF
# object must never hide code the source does not show.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/xdp-gen.sh "$tmp"
status=0
for f in relay_bpfel.go relay_bpfel.o; do
  if ! cmp -s "$tmp/$f" "xdp/$f"; then
    echo "xdp-check: xdp/$f differs from what xdp/bpf/relay.c compiles to; run make xdp-gen and commit" >&2
    status=1
  fi
done
exit $status
