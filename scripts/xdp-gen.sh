#!/usr/bin/env bash
# Compiles xdp/bpf/relay.c to BPF and writes the bpf2go output (relay_bpfel.go,
# relay_bpfel.o) into xdp/, or into the directory given as $1. `make xdp-gen`
# regenerates the committed files; `make xdp-check` generates into a temporary
# directory and fails when the committed ones differ, so the object in the
# repository is the one the source gives. The compiler is pinned to clang 14
# (Debian's clang-14): another version emits different bytes.
set -euo pipefail
cd "$(dirname "$0")/../xdp"
out="${1:-.}"
want_major=14
cc=clang-$want_major
if ! command -v "$cc" >/dev/null || ! command -v llvm-strip-$want_major >/dev/null; then
  echo "xdp-gen: $cc and llvm-strip-$want_major are needed (scripts/deps.sh installs them)" >&2
  exit 1
fi
major="$("$cc" -dumpversion | cut -d. -f1)"
if [ "$major" != "$want_major" ]; then
  echo "xdp-gen: $cc reports version $("$cc" -dumpversion), want $want_major.x" >&2
  exit 1
fi
multiarch="$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
# One little-endian object serves amd64 and arm64; -mcpu=v3 for 32-bit
# jumps and bounded loops (kernel 5.1+).
go tool bpf2go -cc "$cc" -strip "llvm-strip-$want_major" -target bpfel \
  -go-package xdp -output-dir "$out" \
  -cflags "-O2 -mcpu=v3 -Wall -Werror -I/usr/include/$multiarch" \
  relay bpf/relay.c
