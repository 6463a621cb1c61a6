#!/usr/bin/env bash
# Usage: verify-unit.sh path/to/turnstile.service
#
# Runs `systemd-analyze verify` on the unit as shipped, with one change: verify
# insists that ExecStart= names an existing executable, and the turnstile binary is
# neither built nor installed here. So the unit is copied, under its own name, into
# a temporary directory, and only the ExecStart path of the copy is pointed at a
# placeholder executable in that directory. Every other line is verified as
# shipped. systemd-analyze reports unknown keys and unknown syscall groups as
# warnings and still exits 0, so any message about this unit fails the check too;
# messages about the host's own units are shown but do not count.
set -euo pipefail

unit=${1:?usage: verify-unit.sh path/to/unit.service}
shipped_exec=/usr/local/bin/turnstile

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
placeholder="$dir/turnstile"
printf '#!/bin/sh\nexit 0\n' >"$placeholder"
chmod 0755 "$placeholder"

copy="$dir/$(basename "$unit")"
sed "s|^ExecStart=$shipped_exec |ExecStart=$placeholder |" "$unit" >"$copy"
if [[ $(grep -c "^ExecStart=$placeholder " "$copy") -ne 1 ]]; then
	echo "$unit: expected exactly one 'ExecStart=$shipped_exec …' line" >&2
	exit 1
fi

if ! output=$(systemd-analyze verify "$copy" 2>&1); then
	printf '%s\n' "$output" >&2
	echo "systemd-analyze verify failed" >&2
	exit 1
fi
unit_name=$(basename "$unit")
if grep -qF "$unit_name" <<<"$output"; then
	printf '%s\n' "$output" >&2
	echo "systemd-analyze verify printed warnings about $unit_name" >&2
	exit 1
fi
if [[ -n "$output" ]]; then
	printf 'systemd-analyze verify, about other units:\n%s\n' "$output"
fi
echo "systemd-analyze verify: $unit accepted"
