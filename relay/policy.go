package relay

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/turncore"
)

// Policy answers the three questions the relay asks before it acts: who may
// allocate and which peers an allocation may reach. It is turncore's
// (turncore.Policy documents the contract); the alias keeps relay.Policy
// working for embedders.
type Policy = turncore.Policy

// Refusal is a policy answer with the STUN error code to send.
type Refusal = turncore.Refusal

// DefaultPolicy is the policy built from configuration (see
// turncore.DefaultPolicy).
type DefaultPolicy = turncore.DefaultPolicy

// coreHooks lets the core ask Config.Extension for its decisions
// (turncore.Hooks).
type coreHooks struct{ x Extension }

// Admit implements turncore.Hooks with Extension.Admit.
func (h coreHooks) Admit(user string, ft allocation.FiveTuple, now mono.Time) (turncore.PeerHook, error) {
	e, err := h.x.Admit(user, ft, now)
	if err != nil || e == nil {
		return nil, err
	}
	return extState{e}, nil
}

// extState is an allocation's extension state as the core sees it
// (turncore.PeerHook); the session keeps the same state for the data path.
type extState struct{ AllocationExtension }

// PermitPeer implements turncore.PeerHook: the extension decides on the
// addresses it claims (RFC 8656 §10.2, §12.2), the Policy on every other.
func (e extState) PermitPeer(peer netip.AddrPort, hasPort bool, now mono.Time) (bool, error) {
	switch v := e.Permit(peer, hasPort, now); v.Decision {
	case PermitAllow:
		return true, nil
	case PermitForbid:
		return true, &Refusal{Code: 403, Reason: v.Reason}
	}
	return false, nil
}

// ConnectPeer implements turncore.PeerHook with the extension's Connect
// (RFC 6062 §5.2).
func (e extState) ConnectPeer(peer netip.AddrPort, now mono.Time) (netip.AddrPort, bool, error) {
	switch v := e.Connect(peer, now); v.Decision {
	case ConnectTo:
		return v.To, true, nil
	case ConnectForbid:
		return peer, true, &Refusal{Code: 403, Reason: v.Reason}
	case ConnectUnreachable:
		return peer, true, &Refusal{Code: 447, Reason: v.Reason}
	}
	return peer, false, nil
}

// AcceptPeer implements turncore.PeerHook with the extension's AcceptPeer
// (RFC 6062 §5.3).
func (e extState) AcceptPeer(peer netip.AddrPort, now mono.Time) error {
	if v := e.AllocationExtension.AcceptPeer(peer, now); v.Decision == PermitForbid {
		return &Refusal{Code: 403, Reason: v.Reason}
	}
	return nil
}

// extensionOf returns the extension state behind a core hook (nil for none).
func extensionOf(h turncore.PeerHook) AllocationExtension {
	if e, ok := h.(extState); ok {
		return e.AllocationExtension
	}
	return nil
}
