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

func TestParseMachineWorkTicks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		// user 1, nice 2, system 3, irq 6 and softirq 7 are work; idle
		// 400, iowait 5 and steal 8 are not.
		{"first cpu line only", "cpu  1 2 3 400 5 6 7 8 0 0\ncpu0 9 9 9 9 9 9 9 9 0 0\n", 19, false},
		{"after other lines", "intr 5 5\ncpu0 9 9 9 9 9 9 9 9\ncpu 10 0 20 0 0 0 30 100\n", 60, false},
		{"old kernel without steal", "cpu 1 1 1 1 1 1 1\n", 5, false},
		{"short line", "cpu 1 2 3 4 5 6\n", 0, true},
		{"not a number", "cpu 1 2 x 4 5 6 7 8\n", 0, true},
		{"no cpu line", "intr 1\nctxt 2\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMachineWorkTicks([]byte(tc.in))
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("got %d, %v; want %d, err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzParseMachineWorkTicks: any /proc/stat text parses without a panic,
// other lines before the first "cpu" line change nothing, and a cpu line
// built from eight fields reads as the sum of user, nice, system, irq and
// softirq.
func FuzzParseMachineWorkTicks(f *testing.F) {
	f.Add([]byte("cpu  1 2 3 400 5 6 7 8 0 0\ncpu0 9 9 9 9 9 9 9 9 0 0\n"), uint32(1), uint32(2))
	f.Add([]byte("intr 5\ncpu 10 0 20 0 0 0 30\n"), uint32(0), uint32(0))
	f.Add([]byte("cpu 1 2"), uint32(7), uint32(99))
	f.Fuzz(func(t *testing.T, text []byte, a, b uint32) {
		got, err := parseMachineWorkTicks(text)
		again, err2 := parseMachineWorkTicks(append([]byte("intr 9 9\ncpu0 1 1 1 1 1 1 1 1\n"), text...))
		if again != got || (err == nil) != (err2 == nil) {
			t.Fatalf("after other lines: %d, %v; alone: %d, %v", again, err2, got, err)
		}
		// user nice system idle iowait irq softirq steal
		line := fmt.Sprintf("cpu %d %d %d %d %d %d %d %d\n", a, b, a, b, a, b, a, b)
		work, err := parseMachineWorkTicks(append([]byte(line), text...))
		if want := uint64(a) + uint64(b) + uint64(a) + uint64(b) + uint64(a); err != nil || work != want {
			t.Fatalf("%q: %d, %v; want %d", line, work, err, want)
		}
	})
}
