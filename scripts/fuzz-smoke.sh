#!/usr/bin/env bash
# Runs every fuzz target of the module briefly (FUZZTIME each, default 5s),
# on top of its committed seed corpus, so `make test` shakes out regressions.
set -euo pipefail
fuzztime="${FUZZTIME:-5s}"
status=0
while IFS= read -r line; do
  file="$(cut -d: -f1 <<<"$line")"
  name="$(cut -d: -f3- <<<"$line" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/')"
  pkg="$(dirname "$file")"
  echo "fuzz: $pkg $name ($fuzztime)"
  if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/fuzz-$$.log 2>&1; then
    cat /tmp/fuzz-$$.log
    status=1
  elif ! grep -q 'fuzz: elapsed' /tmp/fuzz-$$.log; then
    # A pattern that matches no target makes go test succeed without fuzzing.
    echo "fuzz: $name did not run:"; cat /tmp/fuzz-$$.log
    status=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^./deploy/' | sort)
rm -f /tmp/fuzz-$$.log
exit $status
