package procstat

import (
	"fmt"
	"testing"
)

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"plain", "1234 (turnstile) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 300, false},
		{"comm with spaces and parens", "77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 10, false},
		{"no paren", "1234 turnstile S 1", 0, true},
		{"truncated", "1234 (x) S 1 2 3 4 5 6 7 8 9 10", 0, true},
		{"non-numeric utime", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 3 0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tc.in))
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("got %d, %v; want %d, err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"present", "Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t    2048 kB\nThreads: 4\n", 2048 * 1024, false},
		{"absent (kernel thread)", "Name:\tkthreadd\nThreads: 1\n", 0, true},
		{"bad unit", "VmRSS:\t 10 MB\n", 0, true},
		{"bad number", "VmRSS:\t ten kB\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSSBytes([]byte(tc.in))
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("got %d, %v; want %d, err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseRssAnon(t *testing.T) {
	status := "Name:\tx\nVmRSS:\t    4096 kB\nRssAnon:\t    1536 kB\nRssFile:\t 2560 kB\n"
	if got, err := parseRssAnonBytes([]byte(status)); err != nil || got != 1536*1024 {
		t.Fatalf("got %d, %v; want %d", got, err, 1536*1024)
	}
	if _, err := parseRssAnonBytes([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("status without RssAnon accepted")
	}
}

func TestParseSchedstat(t *testing.T) {
	if got, err := parseSchedstatNanos([]byte("123456789 5000 12\n")); err != nil || got != 123456789 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := parseSchedstatNanos([]byte("")); err == nil {
		t.Fatal("empty accepted")
	}
}

func TestParseMachineIdle(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantIdle uint64
		wantCPUs int
		wantErr  bool
	}{
		// idle 400, iowait 5 and steal 8 are not work; user 1, nice 2,
		// system 3, irq 6 and softirq 7 are (sampled, so not read).
		{"two cpus", "cpu  1 2 3 400 5 6 7 8 0 0\ncpu0 9 9 9 9 9 9 9 9 0 0\ncpu1 9 9 9 9 9 9 9 9 0 0\n", 413, 2, false},
		{"after other lines", "intr 5 5\ncpu0 9 9 9 9 9 9 9 9\ncpu 10 0 20 70 1 0 30 100\nctxt 3\n", 171, 1, false},
		{"old kernel without steal", "cpu 1 1 1 50 2 1 1\ncpu0 1 1 1 50 2 1 1\n", 52, 1, false},
		{"only the first total line", "cpu 0 0 0 10 0 0 0 0\ncpu 0 0 0 99 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0\n", 10, 1, false},
		{"cpuN names only", "cpu 0 0 0 10 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0\ncpux 1\ncpu12 0 0 0 0 0 0 0 0\n", 10, 2, false},
		{"no per-cpu lines", "cpu 1 2 3 4 5 6 7 8\n", 0, 0, true},
		{"short line", "cpu 1 2 3 4 5 6\ncpu0 1\n", 0, 0, true},
		{"not a number", "cpu 1 2 3 x 5 6 7 8\ncpu0 1\n", 0, 0, true},
		{"no cpu line", "intr 1\nctxt 2\n", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idle, cpus, err := parseMachineIdle([]byte(tc.in))
			if idle != tc.wantIdle || cpus != tc.wantCPUs || (err != nil) != tc.wantErr {
				t.Fatalf("got %d ticks, %d CPUs, %v; want %d, %d, err=%v", idle, cpus, err, tc.wantIdle, tc.wantCPUs, tc.wantErr)
			}
		})
	}
}

// FuzzParseMachineIdle: any /proc/stat text parses without a panic, a
// line before it changes nothing, and a total line built from eight fields
// reads as the sum of idle, iowait and steal.
func FuzzParseMachineIdle(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte, a, b uint32) {
		idle, cpus, err := parseMachineIdle(text)
		idle2, cpus2, err2 := parseMachineIdle(append([]byte("intr 9 9\n"), text...))
		if idle2 != idle || cpus2 != cpus || (err == nil) != (err2 == nil) {
			t.Fatalf("after another line: %d, %d, %v; alone: %d, %d, %v", idle2, cpus2, err2, idle, cpus, err)
		}
		// user nice system idle iowait irq softirq steal
		line := fmt.Sprintf("cpu %d %d %d %d %d %d %d %d\ncpu0 0 0 0 0 0 0 0 0\n", a, b, a, b, a, b, a, b)
		got, _, err := parseMachineIdle(append([]byte(line), text...))
		if want := uint64(b) + uint64(a) + uint64(b); err != nil || got != want {
			t.Fatalf("%q: %d, %v; want %d", line, got, err, want)
		}
	})
}
