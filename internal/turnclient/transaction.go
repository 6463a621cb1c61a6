package turnclient

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// ErrTimeout is returned when a request got no acceptable response in time
// (RFC 8489 §6.2.1, §6.2.2).
var ErrTimeout = errors.New("turnclient: no response from the relay")

// Error is a STUN error response (RFC 8489 §14.8) to one of the client's
// requests.
type Error struct {
	Method string // e.g. "allocate"
	Code   int    // e.g. 440
	Reason string // the relay's reason phrase
}

func (e *Error) Error() string {
	return fmt.Sprintf("turnclient: %s: error %d %s", e.Method, e.Code, e.Reason)
}

// Code returns the STUN error code carried by err (an *Error, possibly
// wrapped), or 0.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// transaction is a request waiting for its response. The reader hands it
// copies of every response with its transaction ID; the requester decides
// which one to accept.
type transaction struct {
	responses chan []byte
}

// deliverResponse passes a copy of a response to the transaction waiting
// for it. Responses nobody waits for (late retransmission answers) are
// dropped. Runs on the reader goroutine.
func (c *Client) deliverResponse(txid [12]byte, msg []byte) {
	c.mu.RLock()
	t := c.pending[txid]
	c.mu.RUnlock()
	if t == nil {
		return
	}
	select {
	case t.responses <- append([]byte(nil), msg...):
	default:
	}
}

// attrsFunc adds a request's own attributes.
type attrsFunc func(b *stunmsg.Builder)

// request runs one request to completion with the long-term credential
// mechanism (RFC 8489 §9.2.3): without credentials the first time, again
// with them after the 401 challenge, and again with the new nonce after a
// 438 (RFC 8489 §9.2.5). It returns the final response, success or error.
func (c *Client) request(method stunmsg.Method, attrs attrsFunc) (*stunmsg.Message, error) {
	for attempt := 0; attempt < 3; attempt++ {
		c.mu.RLock()
		realm, nonce, key := c.realm, c.nonce, c.key
		c.mu.RUnlock()
		authed := nonce != ""
		var txid [12]byte
		crand.Read(txid[:]) // RFC 8489 §6: cryptographically random
		req, err := c.build(method, txid, attrs, authed, realm, nonce, key)
		if err != nil {
			return nil, err
		}
		var verify *[16]byte
		if authed {
			verify = &key
		}
		resp, err := c.roundTrip(txid, req, verify)
		if err != nil {
			return nil, err
		}
		code := errorCode(resp)
		if code == 438 || code == 401 && !authed {
			if err := c.learnChallenge(resp); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("turnclient: %s: the relay kept challenging the credentials", method)
}

// learnChallenge takes REALM and NONCE from a 401 or 438 (RFC 8489
// §9.2.5) and derives the long-term key for the realm.
func (c *Client) learnChallenge(resp *stunmsg.Message) error {
	realm, okRealm := resp.Get(stunmsg.AttrRealm)
	nonce, okNonce := resp.Get(stunmsg.AttrNonce)
	if !okRealm || !okNonce || len(nonce) == 0 {
		return fmt.Errorf("turnclient: %s: challenge without REALM and NONCE", resp.Method)
	}
	key := auth.LongTermKey(c.cfg.Username, string(realm), c.cfg.Password)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.realm, c.nonce, c.key = string(realm), string(nonce), key
	return nil
}

// build encodes a request. With authed it carries USERNAME, REALM, NONCE
// and MESSAGE-INTEGRITY (RFC 8489 §9.2.3); realm and nonce are echoed
// exactly as the relay sent them.
func (c *Client) build(method stunmsg.Method, txid [12]byte, attrs attrsFunc, authed bool, realm, nonce string, key [16]byte) ([]byte, error) {
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 2048), stunmsg.MessageType(method, stunmsg.Request), txid)
	if attrs != nil {
		attrs(&b)
	}
	if c.cfg.Software != "" {
		b.AddText(stunmsg.AttrSoftware, c.cfg.Software)
	}
	if authed {
		b.AddText(stunmsg.AttrUsername, c.cfg.Username)
		b.AddString(stunmsg.AttrRealm, realm)
		b.AddString(stunmsg.AttrNonce, nonce)
		b.AddIntegrity(key[:])
	}
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("turnclient: building %s: %w", method, err)
	}
	return out, nil
}

// roundTrip sends req and waits for an acceptable response, retransmitting
// over UDP at RTO, 3·RTO, 7·RTO, … up to Rc sends and then waiting Rm·RTO
// (RFC 8489 §6.2.1); over streams it sends once and waits Ti (§6.2.2).
// Config.Timeout, when set, bounds the whole exchange. key is the request's
// integrity key, nil for an unauthenticated request.
func (c *Client) roundTrip(txid [12]byte, req []byte, key *[16]byte) (*stunmsg.Message, error) {
	t := &transaction{responses: make(chan []byte, 4)}
	c.mu.Lock()
	c.pending[txid] = t
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, txid)
		c.mu.Unlock()
	}()

	rto := c.cfg.RTO
	total := streamTxnTimeout
	if !c.stream {
		total = rto*(1<<(requestCount-1)-1) + rto*lastWaitRTOs
	}
	if c.cfg.Timeout > 0 && c.cfg.Timeout < total {
		total = c.cfg.Timeout
	}
	overall := time.NewTimer(total)
	defer overall.Stop()
	retransmit := time.NewTimer(rto)
	defer retransmit.Stop()
	if c.stream {
		retransmit.Stop()
	}
	if err := c.write(req); err != nil {
		return nil, err
	}
	sent := 1
	for {
		select {
		case raw := <-t.responses:
			m := new(stunmsg.Message)
			if m.Parse(raw) == nil && acceptable(m, key) {
				return m, nil
			}
		case <-retransmit.C:
			if err := c.write(req); err != nil {
				return nil, err
			}
			sent++
			if sent < requestCount {
				rto *= 2
				retransmit.Reset(rto)
			}
		case <-overall.C:
			return nil, ErrTimeout
		case <-c.dead:
			return nil, c.failure()
		}
	}
}

// acceptable applies RFC 8489 §9.2.5 to a response of a request sent with
// key (nil: unauthenticated): a MESSAGE-INTEGRITY or
// MESSAGE-INTEGRITY-SHA256 present must verify; without either, only the
// errors a relay may send unprotected (400, 401, 420, 438) are accepted.
// A response that fails is treated as never received.
func acceptable(m *stunmsg.Message, key *[16]byte) bool {
	if key == nil {
		return true
	}
	switch {
	case m.IntegrityAt >= 0:
		return m.CheckIntegrity(key[:])
	case m.IntegritySHA256At >= 0:
		return m.CheckIntegritySHA256(key[:])
	}
	switch errorCode(m) {
	case 400, 401, 420, 438:
		return true
	}
	return false
}

// errorCode returns the ERROR-CODE of an error response, 0 for a success
// response and 500 for an error response without a valid ERROR-CODE.
func errorCode(m *stunmsg.Message) int {
	if m.Class != stunmsg.Error {
		return 0
	}
	code, _ := errorOf(m)
	return code
}

func errorOf(m *stunmsg.Message) (int, string) {
	v, ok := m.Get(stunmsg.AttrErrorCode)
	if !ok {
		return 500, "error response without ERROR-CODE"
	}
	code, reason, err := stunmsg.DecodeErrorCode(v)
	if err != nil {
		return 500, "malformed ERROR-CODE"
	}
	return code, string(reason)
}

// responseError turns an error response into an *Error.
func responseError(m *stunmsg.Message) error {
	code, reason := errorOf(m)
	return &Error{Method: m.Method.String(), Code: code, Reason: reason}
}
