// Package stunmsg is turnstile's STUN/TURN wire codec: a strict, total,
// zero-allocation parser and builder for RFC 8489 STUN messages carrying
// RFC 8656 TURN attributes, plus TURN ChannelData framing.
//
// Why not pion/stun/v2: it does not check the two top bits of the type, the
// datagram size against the Length field, FINGERPRINT placement, or the
// attributes that follow MESSAGE-INTEGRITY; it panics on a zero-length XOR
// address; and its Message allocates per attribute. pion/stun/v2 is used only
// in this package's tests, as an independent oracle.
//
// Parsing: Message.Parse takes a caller-owned buffer holding exactly one
// message (a UDP datagram, or one frame cut out of a TCP/TLS stream with
// FrameLength) and records, in a fixed array inside the Message, where each
// attribute's value lies. Nothing is copied; the Message keeps referring to
// the buffer, so the buffer must not be reused while the Message is in use.
// The value decoders (DecodeXORAddress, DecodeLifetime, ...) are total: any
// malformed value yields ok=false or a Reason, never a panic.
//
// Building: Builder writes a message into a caller-owned buffer and never
// grows it; running out of room is recorded as an error, not a panic.
// PutDataIndication and PutChannelDataHeader write headers in place in front
// of a payload that was received at an offset (headroom), so relaying a peer
// datagram copies nothing.
//
// Demultiplexing: Classify and FrameLength tell STUN from ChannelData by the
// first byte (RFC 8656 §12, RFC 7983).
//
// Concurrency: a Message or Builder is not safe for concurrent use; package
// functions are safe to call from any goroutine. Every error this package
// returns is a Reason, a small comparable value whose String is a metric
// label.
package stunmsg
