package turnwire

import "errors"

// ErrBadFrame reports stream bytes that cannot start a STUN or ChannelData
// message, or a message larger than the framer accepts. A TCP or TLS
// connection cannot be resynchronised after it, so the caller closes it.
var ErrBadFrame = errors.New("turnwire: stream does not hold a STUN or ChannelData frame")

// FrameSize returns the size of the frame at the start of a TCP/TLS byte
// stream, or 0 when fewer than 4 bytes are available to tell. Over streams,
// STUN messages are self-delimiting by their length field (RFC 8489 §6.2.2)
// and ChannelData messages are padded to a multiple of 4 (RFC 8656 §12.5).
// The first byte decides which (RFC 8656 §12): 0x00–0x3F STUN, 0x40–0x4F
// ChannelData, anything else ErrBadFrame. A STUN length that is not a
// multiple of 4 (RFC 8489 §5) or a frame larger than max is ErrBadFrame.
func FrameSize(b []byte, max int) (int, error) {
	// Both framings keep their length in bytes 2–3.
	if len(b) < 4 {
		return 0, nil
	}
	n := int(be.Uint16(b[2:4]))
	var size int
	switch {
	case b[0]&0xC0 == 0:
		if n%4 != 0 {
			return 0, ErrBadFrame
		}
		size = HeaderSize + n
	case b[0] >= 0x40 && b[0] <= 0x4F:
		size = ChannelDataSize(n, true)
	default:
		return 0, ErrBadFrame
	}
	if size > max {
		return 0, ErrBadFrame
	}
	return size, nil
}

// Framer cuts a TCP or TLS byte stream into STUN and ChannelData frames. It
// owns one fixed buffer: the caller reads from the connection into Space,
// reports the count with Advance, then takes frames with Next. A frame
// returned by Next aliases the buffer and stays valid until the next call to
// Space. A Framer is not safe for concurrent use.
type Framer struct {
	buf  []byte
	r, w int // unread bytes are buf[r:w]
	max  int
}

// NewFramer returns a Framer accepting frames of up to maxFrame bytes, with a
// buffer of bufSize bytes (at least maxFrame; larger buffers let one read
// carry many frames).
func NewFramer(maxFrame, bufSize int) *Framer {
	if bufSize < maxFrame {
		bufSize = maxFrame
	}
	return &Framer{buf: make([]byte, bufSize), max: maxFrame}
}

// Space returns the free tail of the buffer to read into. It first moves any
// partial frame to the front, so the space is never smaller than what the
// partial frame still needs; frames returned earlier become invalid.
func (f *Framer) Space() []byte {
	if f.r > 0 {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	return f.buf[f.w:]
}

// Advance records that n bytes were written into the slice Space returned.
// n outside [0, len(Space())] is ignored: it can only come from a broken
// reader.
func (f *Framer) Advance(n int) {
	if n > 0 && f.w+n <= len(f.buf) {
		f.w += n
	}
}

// Next returns the next complete frame, or nil when more bytes are needed.
// It returns ErrBadFrame when the buffered bytes cannot start a frame.
func (f *Framer) Next() ([]byte, error) {
	size, err := FrameSize(f.buf[f.r:f.w], f.max)
	if err != nil || size == 0 || f.w-f.r < size {
		return nil, err
	}
	frame := f.buf[f.r : f.r+size : f.r+size]
	f.r += size
	return frame, nil
}

// Buffered reports how many unread bytes the framer holds.
func (f *Framer) Buffered() int { return f.w - f.r }
