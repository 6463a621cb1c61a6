package turncore

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// Policy answers the three questions the core asks before it acts: who may
// allocate (Authenticate, AdmitAllocation) and which peers an allocation may
// reach (PermitPeer). Embedders supply their own.
//
// Implementations must be safe for concurrent use and must not block: they are
// called on the packet loops. A returned *Refusal chooses the STUN error code;
// any other error is answered with 401 from Authenticate and 403 otherwise.
type Policy interface {
	// Authenticate returns the candidate long-term keys of username in realm
	// (RFC 8489 §9.2.2; several while shared secrets rotate) and the user
	// name that quotas, logs and extensions know the user by. now is
	// wall-clock time: REST usernames carry UNIX expiries.
	Authenticate(username, realm string, client netip.AddrPort, now time.Time) (auth.Keys, string, error)

	// AdmitAllocation decides whether user may create a new allocation on ft
	// (RFC 8656 §7.2: 486 for quotas, 403 for policy, 508 for capacity).
	// Quotas configured in allocation.Config are enforced by the table itself,
	// atomically with insertion; this hook is for everything else.
	AdmitAllocation(user string, ft allocation.FiveTuple) error

	// PermitPeer decides whether allocation a may exchange data with peer
	// (RFC 8656 §10.2, §11.2, §12.2 allow a server to restrict peers). hasPort
	// is false for CreatePermission, whose permissions are IP-only (§9).
	PermitPeer(a *allocation.Allocation, peer netip.AddrPort, hasPort bool) error
}

// Hooks are an extension's decisions on the core's paths (the gateway is
// the first). They see plain values only, do no I/O and take the time as
// an argument. Implementations must be safe for concurrent use and must
// not block.
type Hooks interface {
	// Admit is asked after Policy.AdmitAllocation and the quota check of an
	// Allocate (RFC 8656 §7.2) and returns the extension's state for the
	// new allocation of user on ft (nil for none). An error refuses the
	// Allocate: a *Refusal chooses the code, 403 otherwise. A state whose
	// Allocate fails later comes back in an ActRelease action.
	Admit(user string, ft allocation.FiveTuple, now mono.Time) (PeerHook, error)
}

// PeerHook is an extension's state of one allocation, as far as the core
// asks it.
type PeerHook interface {
	// PermitPeer is asked first about every peer of a CreatePermission
	// (hasPort false, RFC 8656 §9) or ChannelBind (§12.2). decided false
	// leaves the peer to Policy.PermitPeer; decided true with a nil error
	// allows it without the Policy, with an error refuses it (a *Refusal
	// chooses the code, 403 otherwise).
	PermitPeer(peer netip.AddrPort, hasPort bool, now mono.Time) (decided bool, err error)

	// ConnectPeer is asked first about the peer of a Connect (RFC 6062
	// §5.2). decided false leaves the peer to PermitPeer and the Policy,
	// as for ChannelBind, and the connection goes to peer. decided true
	// with a nil error allows it without them and the connection goes to
	// to (an extension's translation; the relay's own sockets are still
	// refused); with an error refuses it (a *Refusal chooses the code:
	// 403, or 447 when there is nothing to connect to).
	ConnectPeer(peer netip.AddrPort, now mono.Time) (to netip.AddrPort, decided bool, err error)

	// AcceptPeer is asked first about a connection a peer opened to the
	// allocation's relayed TCP address (RFC 6062 §5.3); an error refuses
	// it whatever permission the client installed, nil leaves it to the
	// permission check.
	AcceptPeer(peer netip.AddrPort, now mono.Time) error
}

// Refusal is a policy answer with the STUN error code to send.
type Refusal struct {
	Code   int    // STUN error code, e.g. 403 or 486
	Reason string // short, bounded label for counters and logs; never user data
}

func (r *Refusal) Error() string { return fmt.Sprintf("refused with %d: %s", r.Code, r.Reason) }

// RefusalCode maps a policy error to the STUN error code it is answered
// with: a *Refusal's code when it is a valid one, fallback otherwise.
func RefusalCode(err error, fallback int) int {
	var r *Refusal
	if errors.As(err, &r) && r.Code >= 300 && r.Code <= 699 {
		return r.Code
	}
	return fallback
}

// DefaultPolicy is the policy built from configuration: TURN REST and static
// credentials, quotas left to the allocation table, and the deny-by-default
// peer filter of package peerpolicy.
type DefaultPolicy struct {
	Credentials *auth.Credentials
	Peers       *peerpolicy.Filter
}

// Authenticate implements Policy with auth.Credentials.
func (p *DefaultPolicy) Authenticate(username, realm string, _ netip.AddrPort, now time.Time) (auth.Keys, string, error) {
	return p.Credentials.Keys(username, realm, now)
}

// AdmitAllocation implements Policy; the default admits every authenticated
// user and leaves quotas to the allocation table.
func (p *DefaultPolicy) AdmitAllocation(string, allocation.FiveTuple) error { return nil }

// PermitPeer implements Policy with the current peer filter.
func (p *DefaultPolicy) PermitPeer(_ *allocation.Allocation, peer netip.AddrPort, hasPort bool) error {
	f := p.Peers
	var v peerpolicy.Verdict
	if hasPort {
		v = f.CheckAddrPort(peer)
	} else {
		v = f.CheckIP(peer.Addr())
	}
	if v.Allowed() {
		return nil
	}
	return &Refusal{Code: 403, Reason: v.String()}
}
