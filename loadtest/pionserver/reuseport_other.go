//go:build !linux

package pionserver

import (
	"errors"
	"net"
)

// listenUDPShared needs SO_REUSEPORT's Linux semantics (load spreading).
func listenUDPShared(string) (net.PacketConn, error) {
	return nil, errors.New("pionserver: several UDP sockets need Linux (SO_REUSEPORT)")
}
