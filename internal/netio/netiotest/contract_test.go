package netiotest

import "testing"

// TestFakeHonoursSocketContract runs the contract suite that the kernel's
// sockets also pass against the in-memory network.
func TestFakeHonoursSocketContract(t *testing.T) {
	TestSocketContract(t, NewNetwork())
}
