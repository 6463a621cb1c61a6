//go:build !linux

package loadtest

import (
	"net"
	"time"
)

// udpConn is a connected UDP socket read and written one datagram per
// system call (recvmmsg/sendmmsg are Linux-only).
type udpConn struct {
	c      *net.UDPConn
	buf    []byte
	frames [][]byte
}

func newUDPConn(c *net.UDPConn, readBatch, writeBatch, bufSize int, gso bool) (*udpConn, error) {
	return &udpConn{c: c, buf: make([]byte, bufSize), frames: make([][]byte, 0, 1)}, nil
}

func (u *udpConn) readFrames() ([][]byte, error) {
	n, err := u.c.Read(u.buf)
	if err != nil {
		return nil, err
	}
	u.frames = append(u.frames[:0], u.buf[:n])
	return u.frames, nil
}

func (u *udpConn) writeFrames(frames [][]byte) error {
	for _, f := range frames {
		if _, err := u.c.Write(f); err != nil {
			return err
		}
	}
	return nil
}

func (u *udpConn) writeFrame(f []byte) error {
	_, err := u.c.Write(f)
	return err
}

func (u *udpConn) setReadDeadline(t time.Time) error { return u.c.SetReadDeadline(t) }
func (u *udpConn) close() error                      { return u.c.Close() }
func (u *udpConn) stream() bool                      { return false }
