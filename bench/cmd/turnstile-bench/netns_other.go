//go:build !linux

package main

import "errors"

// netnsLoad is -loads' name for issue 14's speed profile.
const netnsLoad = "xdp"

// runNetnsProfile refuses: network namespaces and XDP are Linux's.
func runNetnsProfile(options) (int, error) {
	return 2, errors.New("-loads xdp needs Linux (network namespaces, XDP)")
}
