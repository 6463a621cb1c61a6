package netio_test

import (
	"testing"

	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/netio/netiotest"
)

// TestSystemHonoursSocketContract runs the contract suite that the in-memory
// network also passes against the kernel's sockets on loopback.
func TestSystemHonoursSocketContract(t *testing.T) {
	netiotest.TestSocketContract(t, netio.System)
}
