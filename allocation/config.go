package allocation

import (
	"fmt"
	"time"
)

// Channel numbers a client may bind (RFC 8656 §12): 0x4000–0x4FFF. Numbers
// below are STUN, numbers above are reserved (RFC 7983 demultiplexing).
const (
	MinChannel uint16 = 0x4000
	MaxChannel uint16 = 0x4FFF
	// LegacyMaxChannel is the top of RFC 5766 §11's range, accepted only
	// with Config.LegacyChannels.
	LegacyMaxChannel uint16 = 0x7FFF
)

// ChannelReuseDelay is how long a channel number and its peer transport
// address stay reserved after the binding expires. RFC 8656 §12 tells a
// client not to rebind either to something else for 5 minutes after
// expiry; the table enforces that by answering ErrChannelConflict, which
// keeps late ChannelData for the old peer from reaching a new one. Binding
// the same number to the same peer again in that window is allowed and
// starts a fresh binding.
const ChannelReuseDelay = 5 * time.Minute

// MinReservationTTL is the shortest time a relayed port reserved by
// EVEN-PORT with R=1 is held for a later Allocate (RFC 8656 §7.2: at least
// 30 seconds).
const MinReservationTTL = 30 * time.Second

// Config holds the table's limits. The zero value of a duration, of
// MaxPermissions, MaxChannels or of Shards means "the default" (see
// Defaults); a zero UserQuota or TotalQuota means unlimited. Durations must
// be whole seconds, because they travel in LIFETIME attributes.
type Config struct {
	// DefaultLifetime is granted when Allocate or Refresh carry no LIFETIME
	// and is the floor for a requested one (RFC 8656 §6, §7.2: 600 s).
	DefaultLifetime time.Duration
	// MaxLifetime caps a requested LIFETIME (RFC 8656 §7.2: RECOMMENDED at
	// most 3600 s, which is also the largest value accepted here).
	MaxLifetime time.Duration
	// PermissionLifetime is the lifetime of a permission (RFC 8656 §9:
	// exactly 300 s).
	PermissionLifetime time.Duration
	// ChannelLifetime is the lifetime of a channel binding (RFC 8656 §12:
	// 10 minutes).
	ChannelLifetime time.Duration
	// MaxPermissions limits the peer IPs one allocation may hold
	// permissions for at once; beyond it CreatePermission and ChannelBind
	// fail with ErrCapacity (508).
	MaxPermissions int
	// MaxChannels limits the channels one allocation may have bound at
	// once, at most the size of the channel range (4096; 16384 with
	// LegacyChannels); beyond it ChannelBind fails with ErrCapacity (508).
	// Expired bindings in their reuse delay do not count.
	MaxChannels int
	// UserQuota limits the live allocations of one user (Spec.User); beyond
	// it Create fails with ErrQuota (486, RFC 8656 §5 recommends keying the
	// quota by username). 0 means unlimited.
	UserQuota int
	// TotalQuota limits the live allocations of the whole table; beyond it
	// Create fails with ErrQuota (486). 0 means unlimited.
	TotalQuota int
	// Shards is the number of independently locked parts of the 5-tuple
	// map, 1–4096.
	Shards int
	// LegacyChannels also accepts RFC 5766's channel numbers 0x5000–0x7FFF
	// in Bind. RFC 8656 §12 reserves them for RFC 7983 demultiplexing, so
	// this is an operator's explicit opt-in for old clients (coturn 4.6's
	// turnutils_uclient draws numbers from the old range); off by default.
	LegacyChannels bool
}

// maxChannelNumber is the highest channel number Bind accepts.
func (c *Config) maxChannelNumber() uint16 {
	if c.LegacyChannels {
		return LegacyMaxChannel
	}
	return MaxChannel
}

// Defaults lists the default limits, for documentation and for callers
// that build a Config from them. It is a copy: changing it changes nothing
// in this package.
var Defaults = defaultConfig()

// defaultConfig is the one place where default limits live.
func defaultConfig() Config {
	return Config{
		DefaultLifetime:    600 * time.Second,
		MaxLifetime:        3600 * time.Second,
		PermissionLifetime: 300 * time.Second,
		ChannelLifetime:    600 * time.Second,
		MaxPermissions:     256,
		MaxChannels:        int(MaxChannel-MinChannel) + 1,
		UserQuota:          0,
		TotalQuota:         0,
		Shards:             64,
	}
}

// maxShards bounds Config.Shards: more shards than that buy nothing and
// cost memory and NextDeadline time.
const maxShards = 4096

// WithDefaults returns c with every zero field that has a default replaced
// by that default. Quotas keep 0, which means unlimited.
func (c Config) WithDefaults() Config {
	fill := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	fillInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	d := defaultConfig()
	fill(&c.DefaultLifetime, d.DefaultLifetime)
	fill(&c.MaxLifetime, d.MaxLifetime)
	fill(&c.PermissionLifetime, d.PermissionLifetime)
	fill(&c.ChannelLifetime, d.ChannelLifetime)
	fillInt(&c.MaxPermissions, d.MaxPermissions)
	fillInt(&c.MaxChannels, d.MaxChannels)
	fillInt(&c.Shards, d.Shards)
	return c
}

// Validate checks c after WithDefaults and returns an error naming the first
// field that is out of range. Values are rejected, never clamped.
func (c Config) Validate() error {
	c = c.WithDefaults()
	seconds := func(name string, v, lo, hi time.Duration) error {
		switch {
		case v < lo || v > hi:
			return fmt.Errorf("allocation: Config.%s = %v, want %v to %v", name, v, lo, hi)
		case v%time.Second != 0:
			return fmt.Errorf("allocation: Config.%s = %v, want whole seconds", name, v)
		}
		return nil
	}
	count := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("allocation: Config.%s = %d, want %d to %d", name, v, lo, hi)
		}
		return nil
	}
	const hour = time.Hour
	for _, err := range []error{
		seconds("DefaultLifetime", c.DefaultLifetime, time.Second, hour),
		seconds("MaxLifetime", c.MaxLifetime, c.DefaultLifetime, hour),
		seconds("PermissionLifetime", c.PermissionLifetime, time.Second, hour),
		seconds("ChannelLifetime", c.ChannelLifetime, time.Second, hour),
		count("MaxPermissions", c.MaxPermissions, 1, 1<<20),
		count("MaxChannels", c.MaxChannels, 1, int(c.maxChannelNumber()-MinChannel)+1),
		count("UserQuota", c.UserQuota, 0, 1<<30),
		count("TotalQuota", c.TotalQuota, 0, 1<<30),
		count("Shards", c.Shards, 1, maxShards),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Lifetime computes the lifetime to grant from a request's LIFETIME
// attribute (RFC 8656 §7.2, §8.2): absent → DefaultLifetime;
// present → min(requested, MaxLifetime), raised to DefaultLifetime if below
// it. So with the defaults LIFETIME 0, 30 and 599 give 600 s, 1200 gives
// 1200 s and 7200 gives 3600 s. A Refresh with LIFETIME 0 means "delete";
// that is for the caller to notice before calling Lifetime. c is used as
// given after WithDefaults.
func (c Config) Lifetime(requested uint32, present bool) time.Duration {
	c = c.WithDefaults()
	if !present {
		return c.DefaultLifetime
	}
	// A uint32 count of seconds fits in a Duration (2^32 s < 2^63 ns).
	d := time.Duration(requested) * time.Second
	if d > c.MaxLifetime {
		d = c.MaxLifetime
	}
	if d < c.DefaultLifetime {
		d = c.DefaultLifetime
	}
	return d
}
