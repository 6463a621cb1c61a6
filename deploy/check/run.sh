#!/usr/bin/env bash
# Checks the deploy artifacts: the Helm chart (lint, render, strict decoding into
# Kubernetes API types, schema tests) and the systemd unit (systemd-analyze verify).
# The project's `make test` runs it; it needs Go and, for the unit, systemd-analyze,
# which it installs with apt-get when missing and it runs as root. A tool that is
# still missing is a failure, never a skip, with or without CI=true.
#
# Helm is not installed on the machines: it is built from the Go module proxy at the
# pinned version below, with the release build's link flags, and cached in
# deploy/check/.tools (gitignored; set TURNSTILE_TOOLS_DIR to cache it elsewhere).
set -euo pipefail

readonly HELM_VERSION=v3.22.0
# Helm's release build stamps the Kubernetes version of its client-go (v0.37 → 1.37)
# as the default for `helm template` and for lint's deprecation check; without it
# helm assumes Kubernetes 1.20.
readonly HELM_KUBE_MINOR=37

check_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy_dir=$(dirname "$check_dir")
chart="$deploy_dir/helm/turnstile"
example="$deploy_dir/helm/examples/bare-metal-values.yaml"
tools_dir=${TURNSTILE_TOOLS_DIR:-$check_dir/.tools}
helm="$tools_dir/helm-$HELM_VERSION-k8s1.$HELM_KUBE_MINOR"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Keep helm away from the user's configuration and caches.
export HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" HELM_DATA_HOME="$work/helm/data"

step() { printf '\n== %s\n' "$*"; }
elapsed() { printf '   (%ss)\n' "$((SECONDS - $1))"; }

install_helm() {
	if [[ -x "$helm" ]]; then
		return
	fi
	step "building helm $HELM_VERSION from the Go module proxy (3 to 6 minutes with an empty Go cache)"
	local start=$SECONDS pkg=helm.sh/helm/v3
	local ldflags="-s -w -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.metadata="
	ldflags+=" -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR"
	ldflags+=" -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR"
	mkdir -p "$tools_dir" "$work/bin"
	GOBIN="$work/bin" go install -ldflags="$ldflags" "$pkg/cmd/helm@$HELM_VERSION"
	mv "$work/bin/helm" "$helm"
	elapsed "$start"
}

install_systemd_analyze() {
	if command -v systemd-analyze >/dev/null; then
		return
	fi
	step "installing systemd-analyze (Debian package systemd)"
	if [[ $(id -u) -ne 0 ]]; then
		echo "systemd-analyze is missing and installing it needs root: apt-get install systemd" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd >/dev/null; }
	command -v systemd-analyze >/dev/null || { echo "systemd-analyze still missing after apt-get install systemd" >&2; exit 1; }
}

total_start=$SECONDS
command -v go >/dev/null || { echo "go is missing" >&2; exit 1; }
install_helm
[[ $("$helm" version --short) == "$HELM_VERSION" ]] ||
	{ echo "cached $helm is not helm $HELM_VERSION: delete it and rerun" >&2; exit 1; }
install_systemd_analyze

# Default values, the bare-metal example, and the Deployment-mode test case.
for values in "" "$example" "$check_dir/testdata/deployment-values.yaml"; do
	step "helm lint --strict and helm template: ${values:-default values}"
	start=$SECONDS
	values_args=()
	[[ -n "$values" ]] && values_args=(--values "$values")
	"$helm" lint --strict "$chart" "${values_args[@]}"
	"$helm" template turnstile "$chart" --namespace turnstile "${values_args[@]}" >/dev/null
	elapsed "$start"
done

step "go test in deploy/check: strict decoding into Kubernetes types, schema rejections"
start=$SECONDS
(cd "$check_dir" && go vet ./... && TURNSTILE_HELM="$helm" go test -count=1 ./...)
elapsed "$start"

step "systemd-analyze verify deploy/systemd/turnstile.service"
start=$SECONDS
"$check_dir/verify-unit.sh" "$deploy_dir/systemd/turnstile.service"
elapsed "$start"

printf '\ndeploy checks passed in %ss\n' "$((SECONDS - total_start))"
