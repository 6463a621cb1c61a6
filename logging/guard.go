package logging

import (
	"context"
	"log/slog"
)

// reservedPrefix is prepended to a user field whose key would collide with a
// key of the line itself.
const reservedPrefix = "attr_"

// reserved reports whether a top-level user key would collide with the
// output keys or with the built-in keys renameBuiltins rewrites.
func reserved(key string) bool {
	switch key {
	case keyTime, keySeverity, keyMessage, slog.LevelKey, slog.MessageKey:
		return true
	}
	return false
}

// guardHandler renames top-level user attributes with reserved keys before
// they reach the JSON handler, so every line has exactly one time, severity
// and message. Once a group is open (WithGroup) every later attribute is
// nested inside it and cannot collide. A record without reserved keys, the
// common case, passes through without copying.
type guardHandler struct {
	next    slog.Handler
	grouped bool // a WithGroup is in effect
}

func (g *guardHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return g.next.Enabled(ctx, l)
}

func (g *guardHandler) Handle(ctx context.Context, r slog.Record) error {
	if g.grouped || !recordHasReserved(r) {
		return g.next.Handle(ctx, r)
	}
	safe := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		safe.AddAttrs(guardAttr(a))
		return true
	})
	return g.next.Handle(ctx, safe)
}

func (g *guardHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if !g.grouped {
		safe := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			safe[i] = guardAttr(a)
		}
		attrs = safe
	}
	return &guardHandler{next: g.next.WithAttrs(attrs), grouped: g.grouped}
}

func (g *guardHandler) WithGroup(name string) slog.Handler {
	if name == "" { // slog: an empty group name changes nothing
		return g
	}
	if !g.grouped && reserved(name) {
		name = reservedPrefix + name
	}
	return &guardHandler{next: g.next.WithGroup(name), grouped: true}
}

func recordHasReserved(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = attrHasReserved(a)
		return !found
	})
	return found
}

// attrHasReserved reports whether a, placed at the top level, would write a
// reserved key: directly, or through a group with an empty key, whose
// members slog writes inline.
func attrHasReserved(a slog.Attr) bool {
	if a.Key != "" {
		return reserved(a.Key)
	}
	v := a.Value.Resolve()
	if v.Kind() != slog.KindGroup {
		return false
	}
	for _, m := range v.Group() {
		if attrHasReserved(m) {
			return true
		}
	}
	return false
}

// guardAttr returns a with reserved top-level keys renamed, descending into
// inlined groups.
func guardAttr(a slog.Attr) slog.Attr {
	if a.Key != "" {
		if reserved(a.Key) {
			a.Key = reservedPrefix + a.Key
		}
		return a
	}
	v := a.Value.Resolve()
	if v.Kind() != slog.KindGroup {
		return a
	}
	members := v.Group()
	safe := make([]slog.Attr, len(members))
	for i, m := range members {
		safe[i] = guardAttr(m)
	}
	return slog.Attr{Value: slog.GroupValue(safe...)}
}
