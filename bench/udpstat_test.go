package bench

import (
	"maps"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

const snmpSample = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 123
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 101635183 5665 3462366 105219590 3462366 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`

func TestParseSNMP(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		key     string
		want    uint64
		wantErr bool
	}{
		{"udp rcvbuf errors", snmpSample, "RcvbufErrors", 3462366, false},
		{"udp in datagrams", snmpSample, "InDatagrams", 101635183, false},
		{"no section", "Ip: A\nIp: 1\n", "RcvbufErrors", 0, true},
		{"header only", "Udp: RcvbufErrors\n", "RcvbufErrors", 0, true},
		{"count mismatch", "Udp: A B\nUdp: 1\n", "A", 0, true},
		{"not a number", "Udp: A\nUdp: x\n", "A", 0, true},
		{"negative", "Udp: A\nUdp: -1\n", "A", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSNMP([]byte(tt.text), "Udp:")
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseSNMP error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got[tt.key] != tt.want {
				t.Errorf("%s = %d, want %d", tt.key, got[tt.key], tt.want)
			}
		})
	}
}

// TestRcvbufErrorsReadsThisMachine checks the counter can be read here and
// never decreases.
func TestRcvbufErrorsReadsThisMachine(t *testing.T) {
	a, err := rcvbufErrors()
	if err != nil {
		t.Fatal(err)
	}
	b, err := rcvbufErrors()
	if err != nil {
		t.Fatal(err)
	}
	if b < a {
		t.Errorf("RcvbufErrors went from %d to %d", a, b)
	}
}

func FuzzParseSNMP(f *testing.F) {
	f.Add([]byte(snmpSample))
	f.Add([]byte("Udp: A B\nUdp: 1 2 3\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := parseSNMP(text, "Udp:")
		if err != nil {
			return
		}
		if got == nil {
			t.Fatal("no error and no counters")
		}
		// Another section's lines in front change nothing.
		again, err := parseSNMP(append([]byte("Ip: Udp: RcvbufErrors\nIp: 7 7\n"), text...), "Udp:")
		if err != nil || !maps.Equal(got, again) {
			t.Fatalf("behind an Ip section: %v, %v; alone: %v", again, err, got)
		}
		// The counters written out as a section read back the same.
		var names, values []string
		for name, v := range got {
			names, values = append(names, name), append(values, strconv.FormatUint(v, 10))
		}
		section := "Udp: " + strings.Join(names, " ") + "\nUdp: " + strings.Join(values, " ") + "\n"
		if back, err := parseSNMP([]byte(section), "Udp:"); err != nil || !maps.Equal(got, back) {
			t.Fatalf("round trip of %v through %q: %v, %v", got, section, back, err)
		}
	})
}

func TestCPUInfoField(t *testing.T) {
	text := []byte("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor @ 2.80GHz\nflags : fpu\n\nprocessor\t: 1\nmodel name\t: Other\n")
	tests := []struct{ key, want string }{
		{"model name", "Intel(R) Xeon(R) Processor @ 2.80GHz"},
		{"flags", "fpu"},
		{"processor", "0"},
		{"missing", ""},
	}
	for _, tt := range tests {
		if got := cpuinfoField(text, tt.key); got != tt.want {
			t.Errorf("cpuinfoField(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func FuzzCPUInfoField(f *testing.F) {
	f.Add([]byte("model name\t: X\n"), "model name")
	f.Add([]byte(":::\n:\n"), "")
	f.Fuzz(func(t *testing.T, text []byte, key string) {
		got := cpuinfoField(text, key)
		if got != strings.TrimSpace(got) || strings.Contains(got, "\n") {
			t.Fatalf("cpuinfoField = %q: not one trimmed line", got)
		}
		// A key a line can hold: the first line naming it wins.
		if key != strings.TrimSpace(key) || strings.ContainsAny(key, ":\n") {
			return
		}
		if first := cpuinfoField(append([]byte(key+"\t: sentinel\n"), text...), key); first != "sentinel" {
			t.Fatalf("cpuinfoField(%q) = %q after a first line naming it", key, first)
		}
	})
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine(t.Context(), "")
	if m.CPUs < 1 || m.GoVersion == "" || m.Kernel == "" {
		t.Errorf("DescribeMachine = %+v: want CPUs, Go version and kernel", m)
	}
	if m.Coturn != "" {
		t.Errorf("Coturn = %q without a turnserver binary", m.Coturn)
	}
}

// TestForeignMeterOnThisMachine: the machine's work over an interval
// covers this process's own (procstat.MachineCPU, exact to one /proc/stat
// unit), the foreign share stays within the machine, and a reversed
// interval gives none.
func TestForeignMeterOnThisMachine(t *testing.T) {
	hz, err := procstat.ClockTicks()
	if err != nil {
		t.Fatal(err)
	}
	unit := time.Second / time.Duration(hz)
	// The go command that started the test stands in for an idle server.
	f := newForeignMeter(os.Getppid())
	a, err := f.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Work, not wall time, is fixed: spin until this process used 100 ms.
	x := uint64(1)
	for {
		for range 1_000_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		used, err := procstat.CPUTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if used-a.ourself >= 100*time.Millisecond {
			break
		}
	}
	runtime.KeepAlive(x)
	b, err := f.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if busy, own := b.busy-a.busy, b.ourself-a.ourself; busy < own-unit {
		t.Errorf("the machine worked %v while this process alone used %v", busy, own)
	}
	wall := b.at.Sub(a.at).Seconds()
	limit := float64(runtime.NumCPU()) + unit.Seconds()/wall
	if c := f.cores(a, b); c < 0 || c > limit {
		t.Errorf("foreign CPU %v cores: outside 0..%.2f (%d CPUs and a unit)", c, limit, runtime.NumCPU())
	}
	if f.cores(b, a) != 0 {
		t.Error("a reversed interval gave CPU")
	}
}
