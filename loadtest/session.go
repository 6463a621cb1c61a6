package loadtest

import (
	"context"
	"crypto/rand"
	"net/netip"
	"strconv"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// session is one allocation: its connection, credentials, relayed address,
// echo peer and send path, and the counters of its receive loop. After
// setup, one goroutine runs its loop (closed or open loop); in open loop a
// pacer goroutine also sends on its connection, using only the open-loop
// fields marked below.
type session struct {
	id      int
	cl      client
	relayed netip.AddrPort
	peer    netip.AddrPort
	channel uint16 // 0 for the Send-indication path
	payload int
	// variable marks a session whose probes have sizes up to payload
	// (realistic flows) instead of exactly payload.
	variable bool
	// direct marks a session talking to its peer with no server between
	// (Config.Direct): its frames are the bare probes.
	direct bool
	cnt    counters

	// Open loop: owned by the session's pacer, kept off the cache lines the
	// loop writes.
	openFrame []byte
	openSeq   uint64
	openTxid  [12]byte
	_         [64]byte

	// Receive side: owned by the session's loop.
	seen    seqWindow
	refresh refresher
}

// credentials returns the username and password of allocation i.
func credentials(cfg *Config, i int, now time.Time) (string, string) {
	if cfg.Secret == "" {
		return cfg.Username, cfg.Password
	}
	return turnwire.RESTCredentials(cfg.Secret, cfg.User+"-"+strconv.Itoa(i), now.Add(cfg.CredentialTTL))
}

// readBatch and writeBatch size a session's datagram batches: as many as can
// be in flight, within reason.
func readBatch(cfg *Config) int {
	if cfg.Mode == ModeClosed {
		return min(cfg.InFlight, 8)
	}
	return 4
}

func writeBatch(cfg *Config) int {
	if cfg.Mode == ModeClosed {
		return min(cfg.InFlight, 64)
	}
	return 1
}

// setupSession dials, allocates and installs the send path (ChannelBind, or
// CreatePermission for Send indications) for allocation i toward peer.
func setupSession(ctx context.Context, cfg *Config, t target, i int, peer netip.AddrPort) (*session, error) {
	if cfg.Direct {
		t = target{addr: peer}
	}
	conn, err := dial(ctx, cfg, t, netip.Addr{}, readBatch(cfg), writeBatch(cfg), cfg.maxPayload())
	if err != nil {
		return nil, &opError{"dial", err}
	}
	if cfg.Direct {
		s := &session{id: i, cl: client{conn: conn, udp: true}, peer: peer, direct: true,
			payload: cfg.maxPayload(), variable: cfg.Mode == ModeRealistic}
		s.openFrame = make([]byte, s.frameSize())
		return s, nil
	}
	user, pass := credentials(cfg, i, time.Now())
	s := &session{
		id:       i,
		cl:       client{conn: conn, auth: turnwire.NewAuth(user, pass), timeout: cfg.RequestTimeout, udp: cfg.Transport == TransportUDP},
		peer:     peer,
		payload:  cfg.maxPayload(),
		variable: cfg.Mode == ModeRealistic,
	}
	resp, _, err := s.cl.transact(ctx, "allocate", turnwire.AllocateRequest)
	if err != nil {
		conn.close()
		return nil, err
	}
	if !resp.Relayed.IsValid() {
		conn.close()
		return nil, &opError{"allocate", errNoRelayedAddress}
	}
	s.relayed = resp.Relayed
	if err := s.installPath(ctx, cfg.SendPath); err != nil {
		s.cl.deleteAllocation(ctx)
		conn.close()
		return nil, err
	}
	s.openFrame = make([]byte, s.frameSize())
	rand.Read(s.openTxid[:])
	return s, nil
}

// installPath binds the channel or creates the permission for the peer.
// Every allocation has a single peer, so it uses the first channel number,
// 0x4000 (RFC 8656 §12).
func (s *session) installPath(ctx context.Context, path SendPath) error {
	if path == SendChannel {
		s.channel = turnwire.ChannelMin
		_, _, err := s.cl.transact(ctx, "bind", func(a *turnwire.Auth) (turnwire.Request, error) {
			return turnwire.ChannelBindRequest(a, s.channel, s.peer)
		})
		return err
	}
	_, _, err := s.cl.transact(ctx, "permission", func(a *turnwire.Auth) (turnwire.Request, error) {
		return turnwire.CreatePermissionRequest(a, s.peer)
	})
	return err
}

// deleteAllocation sends Refresh with LIFETIME 0 (RFC 8656 §8.1). A 437 to a
// retransmitted delete means the first copy already deleted it (RFC 8656
// §8.3) and counts as success.
func (c *client) deleteAllocation(ctx context.Context) error {
	_, retransmitted, err := c.transact(ctx, "delete", func(a *turnwire.Auth) (turnwire.Request, error) {
		return turnwire.RefreshRequest(a, 0)
	})
	if er, ok := err.(*ErrorResponse); ok && er.Code == 437 && retransmitted {
		return nil
	}
	return err
}

// frameSize is the size of one probe frame on this session's send path.
func (s *session) frameSize() int {
	if s.direct {
		return s.payload
	}
	if s.channel != 0 {
		return turnwire.ChannelDataSize(s.payload, s.cl.conn.stream())
	}
	return turnwire.SendIndicationSize(s.peer, s.payload)
}

// fillFrame writes a complete probe frame into frame (frameSize bytes): the
// ChannelData header or a Send indication with a fresh transaction ID, then
// the probe header. The rest of the payload keeps whatever frame held (the
// probe's filler). txid is the caller's indication counter.
func (s *session) fillFrame(frame []byte, txid *[12]byte, p probe) {
	s.fillSized(frame, txid, p, s.payload)
}

// fillSized writes a probe frame of size payload bytes (at most s.payload)
// at the start of frame and returns it.
func (s *session) fillSized(frame []byte, txid *[12]byte, p probe, size int) []byte {
	var payload []byte
	var n int
	if s.direct {
		payload, n = frame, size
	} else if s.channel != 0 {
		turnwire.PutChannelDataHeader(frame, s.channel, size)
		n = turnwire.ChannelDataSize(size, s.cl.conn.stream())
		payload = frame[turnwire.ChannelDataHeaderSize:]
	} else {
		nextTxid(txid)
		off := turnwire.PutSendIndication(frame, txid, s.peer, size)
		n = turnwire.SendIndicationSize(s.peer, size)
		payload = frame[off:]
	}
	putProbe(payload, p)
	return frame[:n]
}

// nextTxid advances an indication transaction ID as a 96-bit counter. RFC
// 8489 §6 asks for unpredictable IDs on requests, which matter for matching
// responses; indications get no response, so a counter seeded per session
// suffices to keep them distinct.
func nextTxid(t *[12]byte) {
	for i := len(t) - 1; i >= 0; i-- {
		t[i]++
		if t[i] != 0 {
			return
		}
	}
}

// onFrame handles one frame from the server in the data phase: a probe
// coming back (returned with ok, and counted in receivedAll whether or not
// it is in time), a response to a refresh, or something to count as stray.
func (s *session) onFrame(f []byte, now mono.Time) (p probe, ok bool) {
	var data []byte
	switch kind := turnwire.Classify(f); {
	case s.direct:
		// The connected socket only hears from the peer: every datagram
		// is a bare probe or stray.
		data = f
	case kind == turnwire.KindChannelData:
		ch, d, valid := turnwire.ParseChannelData(f)
		if !valid || ch != s.channel {
			bump(&s.cnt.stray)
			return probe{}, false
		}
		data = d
	case kind == turnwire.KindDataIndication:
		d, valid := turnwire.ParseDataIndication(f)
		if !valid {
			bump(&s.cnt.stray)
			return probe{}, false
		}
		data = d
	case kind == turnwire.KindResponse:
		s.refresh.onResponse(s, f, now)
		return probe{}, false
	default:
		bump(&s.cnt.stray)
		return probe{}, false
	}
	p, ok = parseProbe(data)
	if !ok || p.session != uint32(s.id) || !s.sizeFits(len(data)) {
		bump(&s.cnt.stray)
		return probe{}, false
	}
	bump(&s.cnt.receivedAll)
	return p, true
}

// sizeFits reports whether a returning probe has a size this session sends.
func (s *session) sizeFits(n int) bool {
	if s.variable {
		return n >= ProbeHeaderSize && n <= s.payload
	}
	return n == s.payload
}
