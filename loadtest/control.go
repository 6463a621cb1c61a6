package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// Initial UDP retransmission timeout (RFC 8489 §6.2.1: RTO starts at 500 ms
// and doubles per retransmission).
const initialRTO = 500 * time.Millisecond

// ErrorResponse is a STUN error response to one of the generator's requests.
type ErrorResponse struct {
	Op     string // "allocate", "refresh", "permission", "bind", "delete"
	Code   int
	Reason string
}

func (e *ErrorResponse) Error() string {
	return fmt.Sprintf("%s: error response %d %s", e.Op, e.Code, e.Reason)
}

// errTimeout is a transaction that got no response within RequestTimeout.
var errTimeout = errors.New("no response")

// opError attaches the operation to a non-STUN failure.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// failureKey names a failure for the counters in the result:
// "<op>:<code>" for error responses, else "<op>:timeout", "<op>:integrity",
// "<op>:transport".
func failureKey(err error) string {
	var er *ErrorResponse
	if errors.As(err, &er) {
		return er.Op + ":" + strconv.Itoa(er.Code)
	}
	op := "setup"
	var oe *opError
	if errors.As(err, &oe) {
		op = oe.op
	}
	switch {
	case errors.Is(err, errTimeout):
		return op + ":timeout"
	case errors.Is(err, turnwire.ErrIntegrity):
		return op + ":integrity"
	default:
		return op + ":transport"
	}
}

// client runs STUN transactions on one connection with one set of
// credentials. It is owned by one goroutine.
type client struct {
	conn    frameConn
	auth    *turnwire.Auth
	timeout time.Duration
	udp     bool
}

// transact builds a request with build and exchanges it, re-building once
// after a 401 that taught the realm and nonce (RFC 8489 §9.2.3) and after a
// 438 with a fresh nonce (RFC 8489 §9.2.5). A success response must carry a
// valid MESSAGE-INTEGRITY. retransmitted reports whether the final request
// was sent more than once over UDP (RFC 8656 §8.3 needs it for deletes).
func (c *client) transact(ctx context.Context, op string, build func(*turnwire.Auth) (turnwire.Request, error)) (resp *turnwire.Response, retransmitted bool, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		hadCredentials := c.auth.Ready()
		req, err := build(c.auth)
		if err != nil {
			return nil, false, &opError{op, err}
		}
		resp, retransmitted, err = c.roundTrip(ctx, req)
		if err != nil {
			return nil, retransmitted, &opError{op, err}
		}
		switch {
		case resp.Code == 401 && resp.Realm != "" && resp.Nonce != "" && (!hadCredentials || resp.Realm != c.auth.Realm()):
			c.auth.Learn(resp.Realm, resp.Nonce)
			continue
		case resp.Code == 438 && resp.Nonce != "":
			c.auth.Learn(resp.Realm, resp.Nonce)
			continue
		case resp.Code != 0:
			return resp, retransmitted, &ErrorResponse{Op: op, Code: resp.Code, Reason: resp.Reason}
		}
		if err := resp.VerifyIntegrity(c.auth.Key()); err != nil {
			return nil, retransmitted, &opError{op, err}
		}
		return resp, retransmitted, nil
	}
	return resp, retransmitted, &ErrorResponse{Op: op, Code: resp.Code, Reason: resp.Reason}
}

// roundTrip sends req and waits for the response with its transaction ID,
// ignoring every other frame. Over UDP it retransmits after 500 ms, then
// 1 s, 2 s, … until RequestTimeout (RFC 8489 §6.2.1); over TCP/TLS it sends
// once (RFC 8489 §6.2.2). Cancelling ctx aborts the wait.
func (c *client) roundTrip(ctx context.Context, req turnwire.Request) (*turnwire.Response, bool, error) {
	// The callback may run after roundTrip returned and the owner replaced
	// or closed c.conn: it captures this connection, on which a deadline is
	// harmless even once closed.
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.setReadDeadline(time.Unix(1, 0)) })
	defer stop()
	defer c.conn.setReadDeadline(time.Time{})

	start := time.Now()
	end := start.Add(c.timeout)
	rto := initialRTO
	sends := 0
	for {
		if err := c.conn.writeFrame(req.Raw); err != nil {
			return nil, sends > 0, err
		}
		sends++
		wait := end
		if c.udp && start.Add(rto).Before(end) {
			wait = time.Now().Add(rto)
			rto *= 2
		}
		if err := c.conn.setReadDeadline(wait); err != nil {
			return nil, sends > 1, err
		}
		resp, err := c.await(req.TransactionID)
		if err == nil {
			return resp, sends > 1, nil
		}
		if ctx.Err() != nil {
			return nil, sends > 1, ctx.Err()
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, sends > 1, err
		}
		if !time.Now().Before(end) {
			return nil, sends > 1, errTimeout
		}
	}
}

// await reads frames until the response to txid arrives or the read deadline
// passes. A connected UDP socket reports an ICMP port unreachable for an
// earlier datagram as ECONNREFUSED; it is not fatal to this transaction,
// which keeps waiting.
func (c *client) await(txid [12]byte) (*turnwire.Response, error) {
	for {
		frames, err := c.conn.readFrames()
		if err != nil {
			if c.udp && isConnRefused(err) {
				continue
			}
			return nil, err
		}
		for _, f := range frames {
			if turnwire.Classify(f) != turnwire.KindResponse {
				continue
			}
			resp, err := turnwire.ParseResponse(f)
			if err == nil && resp.TransactionID == txid {
				return resp, nil
			}
		}
	}
}

// isTimeout reports a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
