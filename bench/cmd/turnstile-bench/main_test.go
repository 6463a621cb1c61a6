package main

import (
	"runtime"
	"slices"
	"testing"

	"github.com/turnstile-relay/turnstile/bench"
)

func TestParseFlags(t *testing.T) {
	allLoads := []string{"realistic", "closed", "burst", "rss", "many", "churn", "ramp", "tcp"}
	tests := []struct {
		name      string
		args      []string
		wantErr   bool
		wantRuns  int
		wantLoads []string
		servers   []string
	}{
		{"defaults", nil, false, 3, allLoads, bench.AllServers},
		{"quick runs once", []string{"-quick"}, false, 1, allLoads, bench.AllServers},
		{"explicit runs win", []string{"-quick", "-runs", "3"}, false, 3, allLoads, bench.AllServers},
		{"subset", []string{"-loads", "churn,closed", "-servers", "coturn,turnstile"}, false, 3, []string{"churn", "closed"}, []string{"coturn", "turnstile"}},
		{"unknown load", []string{"-loads", "soak"}, true, 0, nil, nil},
		{"unknown server", []string{"-servers", "nginx"}, true, 0, nil, nil},
		{"server twice", []string{"-servers", "pion,pion"}, true, 0, nil, nil},
		{"xdp profile repeats ten times", []string{"-loads", "xdp"}, false, 10, nil, []string{"turnstile", "coturn"}},
		{"xdp profile quick", []string{"-loads", "xdp", "-quick"}, false, 1, nil, []string{"turnstile", "coturn"}},
		{"xdp profile explicit runs", []string{"-loads", "xdp", "-runs", "4"}, false, 4, nil, []string{"turnstile", "coturn"}},
		{"negative runs", []string{"-runs", "-1"}, true, 0, nil, nil},
		{"negative threads", []string{"-threads", "-1"}, true, 0, nil, nil},
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

// TestPinning: by default the servers get the upper half of the CPUs and
// the generator the lower (with 2: CPU 1 and CPU 0), every server as many
// relay threads as it has CPUs; the sets must be disjoint and come
// together.
func TestPinning(t *testing.T) {
	for n, want := range map[int][2]string{1: {"", ""}, 2: {"1", "0"}, 3: {"1,2", "0"}, 4: {"2,3", "0,1"}} {
		if s, g := defaultPinning(n); s != want[0] || g != want[1] {
			t.Errorf("defaultPinning(%d) = %q, %q; want %q, %q", n, s, g, want[0], want[1])
		}
	}
	o, err := parseFlags([]string{"-server-cpus", "1", "-generator-cpus", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.serverCPUs, []int{1}) || !slices.Equal(o.generatorCPUs, []int{0}) || o.threads != 1 {
		t.Errorf("server CPUs %v, generator CPUs %v, threads %d; want [1], [0], 1", o.serverCPUs, o.generatorCPUs, o.threads)
	}
	o, err = parseFlags([]string{"-server-cpus", "", "-generator-cpus", ""})
	if err != nil || o.serverCPUs != nil || o.threads != runtime.NumCPU() {
		t.Errorf("unpinned: %v, CPUs %v, threads %d; want no error, none, %d", err, o.serverCPUs, o.threads, runtime.NumCPU())
	}
	for _, bad := range [][]string{
		{"-server-cpus", "1", "-generator-cpus", "1"},
		{"-server-cpus", "1", "-generator-cpus", ""},
		{"-server-cpus", "1,1", "-generator-cpus", "0"},
		{"-server-cpus", "x", "-generator-cpus", "0"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
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
		if q.Duration > f.Duration || q.Warmup > f.Warmup || q.RampStepDuration > f.RampStepDuration {
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
