package relay

import (
	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// EventKind says what happened to an allocation.
type EventKind uint8

// Allocation lifecycle events.
const (
	EventCreated   EventKind = iota // Allocate succeeded
	EventRefreshed                  // Refresh with a non-zero lifetime
	EventDeleted                    // Refresh with LIFETIME 0, or its TCP/TLS connection closed
	EventExpired                    // its lifetime ran out
	EventClosed                     // the relay shut down with it still live
)

func (k EventKind) String() string {
	switch k {
	case EventCreated:
		return "created"
	case EventRefreshed:
		return "refreshed"
	case EventDeleted:
		return "deleted"
	case EventExpired:
		return "expired"
	}
	return "closed"
}

// Event is published to Config.Events for metrics and embedders. Allocation
// is the table's allocation; after a Deleted/Expired/Closed event it is dead
// and must only be read, never used to relay.
type Event struct {
	Kind       EventKind
	Allocation *allocation.Allocation
	At         mono.Time
}

// emit publishes an event; Config.Events must not block (it runs on the
// packet loops and the request path).
func (s *Server) emit(kind EventKind, a *allocation.Allocation, now mono.Time) {
	if s.cfg.Events != nil {
		s.cfg.Events(Event{Kind: kind, Allocation: a, At: now})
	}
}
