package turnwire

// ValidChannel reports whether n is a channel number a client may bind and a
// server may accept: 0x4000 through 0x4FFF (RFC 8656 §12).
func ValidChannel(n uint16) bool { return n >= ChannelMin && n <= ChannelMax }

// ChannelDataSize returns the size of a ChannelData message carrying n bytes
// of application data. Over TCP and TLS (stream true) the message is padded
// to a multiple of 4, which RFC 8656 §12.5 requires; over UDP no padding is
// added (it is allowed but useless).
func ChannelDataSize(n int, stream bool) int {
	if stream {
		return pad4(ChannelDataHeaderSize + n)
	}
	return ChannelDataHeaderSize + n
}

// PutChannelDataHeader writes the 4-byte ChannelData header (channel number,
// then the application data length, RFC 8656 §12.4) at the start of dst. The
// caller places the n data bytes at dst[4:] and, over a stream, zeroes the
// padding up to ChannelDataSize(n, true). dst must be at least 4 bytes.
func PutChannelDataHeader(dst []byte, channel uint16, n int) {
	be.PutUint16(dst[0:2], channel)
	be.PutUint16(dst[2:4], uint16(n))
}

// ParseChannelData decodes a ChannelData message (RFC 8656 §12.4, §12.6).
// It returns ok false when b is shorter than its header, names a channel
// outside 0x4000–0x4FFF, or declares more data than b holds. Bytes after the
// declared length are padding and are ignored (RFC 8656 §12.5). data aliases
// b.
func ParseChannelData(b []byte) (channel uint16, data []byte, ok bool) {
	// Header: channel number (2) + length (2), RFC 8656 §12.4.
	if len(b) < ChannelDataHeaderSize {
		return 0, nil, false
	}
	channel = be.Uint16(b[0:2])
	if !ValidChannel(channel) {
		return 0, nil, false
	}
	n := int(be.Uint16(b[2:4]))
	// A datagram shorter than 4 + Length is dropped (RFC 8656 §12.6).
	if len(b)-ChannelDataHeaderSize < n {
		return 0, nil, false
	}
	return channel, b[ChannelDataHeaderSize : ChannelDataHeaderSize+n], true
}
