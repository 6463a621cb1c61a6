// Package check holds the tests of turnstile's deploy artifacts: the Helm chart in
// deploy/helm/turnstile, its bare-metal example, the systemd unit and the
// Dockerfile. It is a module of its own so that the relay's module never depends
// on Kubernetes packages.
//
// The chart tests run the pinned helm binary named by $TURNSTILE_HELM; run.sh
// builds it from the Go module proxy and sets the variable:
//
//	deploy/check/run.sh
package check
