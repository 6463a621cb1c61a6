package allocation

import (
	"strings"
	"testing"
	"time"
)

func TestLifetime(t *testing.T) {
	custom := Config{DefaultLifetime: 300 * time.Second, MaxLifetime: 900 * time.Second}
	tests := []struct {
		name      string
		cfg       Config
		requested uint32
		present   bool
		want      time.Duration
	}{
		{"absent", Config{}, 0, false, 600 * time.Second},
		{"absent ignores value", Config{}, 1200, false, 600 * time.Second},
		{"zero raised to default", Config{}, 0, true, 600 * time.Second},
		{"30 raised to default", Config{}, 30, true, 600 * time.Second},
		{"599 raised to default", Config{}, 599, true, 600 * time.Second},
		{"600", Config{}, 600, true, 600 * time.Second},
		{"601", Config{}, 601, true, 601 * time.Second},
		{"1200", Config{}, 1200, true, 1200 * time.Second},
		{"3600", Config{}, 3600, true, 3600 * time.Second},
		{"3601 capped", Config{}, 3601, true, 3600 * time.Second},
		{"7200 capped", Config{}, 7200, true, 3600 * time.Second},
		{"max uint32 capped", Config{}, ^uint32(0), true, 3600 * time.Second},
		{"custom absent", custom, 0, false, 300 * time.Second},
		{"custom low", custom, 10, true, 300 * time.Second},
		{"custom mid", custom, 400, true, 400 * time.Second},
		{"custom high", custom, 1000, true, 900 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Lifetime(tt.requested, tt.present); got != tt.want {
				t.Errorf("Lifetime(%d, %v) = %v, want %v", tt.requested, tt.present, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" = valid
	}{
		{"zero is all defaults", Config{}, ""},
		{"defaults", Defaults, ""},
		{"quotas", Config{UserQuota: 10, TotalQuota: 100}, ""},
		{"one shard", Config{Shards: 1}, ""},
		{"negative default lifetime", Config{DefaultLifetime: -time.Second}, "DefaultLifetime"},
		{"fractional default lifetime", Config{DefaultLifetime: 1500 * time.Millisecond}, "DefaultLifetime"},
		{"max below default", Config{MaxLifetime: 300 * time.Second}, "MaxLifetime"},
		{"max above an hour", Config{MaxLifetime: 2 * time.Hour}, "MaxLifetime"},
		{"negative permission lifetime", Config{PermissionLifetime: -1}, "PermissionLifetime"},
		{"fractional channel lifetime", Config{ChannelLifetime: 600*time.Second + 1}, "ChannelLifetime"},
		{"negative max permissions", Config{MaxPermissions: -1}, "MaxPermissions"},
		{"too many channels", Config{MaxChannels: 4097}, "MaxChannels"},
		{"legacy range allows more channels", Config{LegacyChannels: true, MaxChannels: 16384}, ""},
		{"too many legacy channels", Config{LegacyChannels: true, MaxChannels: 16385}, "MaxChannels"},
		{"negative user quota", Config{UserQuota: -1}, "UserQuota"},
		{"negative total quota", Config{TotalQuota: -5}, "TotalQuota"},
		{"too many shards", Config{Shards: 5000}, "Shards"},
		{"negative shards", Config{Shards: -1}, "Shards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := NewTable(tt.cfg); err != nil {
					t.Fatalf("NewTable: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Config."+tt.field+" ") {
				t.Fatalf("Validate() = %v, want an error naming Config.%s", err, tt.field)
			}
			if _, err := NewTable(tt.cfg); err == nil {
				t.Fatalf("NewTable accepted an invalid config")
			}
		})
	}
}

func TestConfigWithDefaults(t *testing.T) {
	got := Config{MaxPermissions: 7, UserQuota: 3}.WithDefaults()
	want := Defaults
	want.MaxPermissions = 7
	want.UserQuota = 3
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
	if Defaults.UserQuota != 0 || Defaults.TotalQuota != 0 {
		t.Errorf("quotas must default to unlimited")
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{ErrExists, 437}, {ErrGone, 437}, {ErrQuota, 486}, {ErrCapacity, 508},
		{ErrBadChannel, 400}, {ErrChannelConflict, 400}, {ErrInvalidAddress, 400},
		{ErrFamilyMismatch, 443}, {ErrInvalidSpec, 500}, {ErrInvalidLifetime, 500},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
