package gateway

import (
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// tokenBucket limits synthesized ICMP errors per allocation. It is the
// generic cell rate algorithm form of a token bucket: tat is the theoretical
// arrival time of the next conforming event; an event at now conforms if,
// after it, tat lies no more than burst intervals ahead of now. The zero
// tat starts the bucket full. Time is an argument; nothing runs in the
// background. Not safe for concurrent use.
type tokenBucket struct {
	interval time.Duration // 1/rate
	window   time.Duration // burst × interval
	tat      mono.Time
}

func newTokenBucket(ratePerSecond, burst int) tokenBucket {
	interval := time.Second / time.Duration(ratePerSecond)
	return tokenBucket{interval: interval, window: interval * time.Duration(burst)}
}

// allow reports whether an event at now conforms and, if so, takes a token.
func (b *tokenBucket) allow(now mono.Time) bool {
	tat := max(b.tat, now).Add(b.interval)
	if tat.Sub(now) > b.window {
		return false
	}
	b.tat = tat
	return true
}
