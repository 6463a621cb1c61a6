package main

import (
	"slices"
	"testing"

	"github.com/turnstile-relay/turnstile/bench"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantErr   bool
		wantRuns  int
		wantLoads []string
		servers   []string
	}{
		{"defaults", nil, false, 5, []string{"closed", "rss", "many", "churn"}, bench.AllServers},
		{"quick runs once", []string{"-quick"}, false, 1, []string{"closed", "rss", "many", "churn"}, bench.AllServers},
		{"explicit runs win", []string{"-quick", "-runs", "3"}, false, 3, []string{"closed", "rss", "many", "churn"}, bench.AllServers},
		{"subset", []string{"-loads", "churn,closed", "-servers", "coturn,turnstile"}, false, 5, []string{"churn", "closed"}, []string{"coturn", "turnstile"}},
		{"unknown load", []string{"-loads", "soak"}, true, 0, nil, nil},
		{"unknown server", []string{"-servers", "nginx"}, true, 0, nil, nil},
		{"server twice", []string{"-servers", "pion,pion"}, true, 0, nil, nil},
		{"negative runs", []string{"-runs", "-1"}, true, 0, nil, nil},
		{"no threads", []string{"-threads", "0"}, true, 0, nil, nil},
		{"stray argument", []string{"now"}, true, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if o.runs != tt.wantRuns {
				t.Errorf("runs = %d, want %d", o.runs, tt.wantRuns)
			}
			var names []string
			for _, l := range o.loads {
				names = append(names, l.Name)
			}
			if !slices.Equal(names, tt.wantLoads) {
				t.Errorf("loads = %v, want %v", names, tt.wantLoads)
			}
			if !slices.Equal(o.servers, tt.servers) {
				t.Errorf("servers = %v, want %v", o.servers, tt.servers)
			}
		})
	}
}

func TestQuickLoadsAreShorter(t *testing.T) {
	full, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	quick, err := parseFlags([]string{"-quick"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range full.loads {
		f, q := full.loads[i].Config, quick.loads[i].Config
		if q.Duration > f.Duration || q.Warmup > f.Warmup {
			t.Errorf("%s: quick %v+%v is not shorter than full %v+%v", full.loads[i].Name, q.Warmup, q.Duration, f.Warmup, f.Duration)
		}
	}
}

func TestRandomSecret(t *testing.T) {
	a, b := randomSecret(), randomSecret()
	if len(a) != 32 || a == b {
		t.Errorf("randomSecret = %q, %q: want 32 hex characters, fresh each time", a, b)
	}
}
