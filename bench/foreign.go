package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

// cpuSnapshot is what foreignMeter reads at the start and end of a load.
type cpuSnapshot struct {
	at      time.Time
	busy    time.Duration // machine-wide busy time, all CPUs
	server  time.Duration // the server's CPU time
	ourself time.Duration // this process's CPU time (the load generator)
}

// foreignMeter measures how much CPU processes other than the server and
// the load generator used during a load: on a shared machine, a busy
// neighbour skews a measurement, and the report should say so.
type foreignMeter struct {
	serverPID int
	ticks     int // USER_HZ of /proc/stat
}

func newForeignMeter(serverPID int) (*foreignMeter, error) {
	ticks, err := procstat.ClockTicks()
	if err != nil {
		return nil, err
	}
	return &foreignMeter{serverPID: serverPID, ticks: ticks}, nil
}

func (f *foreignMeter) snapshot() (cpuSnapshot, error) {
	s := cpuSnapshot{at: time.Now()}
	text, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	busyTicks, err := parseStatBusy(text)
	if err != nil {
		return s, err
	}
	s.busy = time.Duration(busyTicks) * time.Second / time.Duration(f.ticks)
	if s.server, err = procstat.CPUTime(f.serverPID); err != nil {
		return s, err
	}
	s.ourself, err = procstat.CPUTime(os.Getpid())
	return s, err
}

// cores returns the CPU used between a and b by everything but the server
// and this process, in cores (CPU seconds per second), never below 0 (tick
// rounding of /proc/stat).
func (f *foreignMeter) cores(a, b cpuSnapshot) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	other := (b.busy - a.busy) - (b.server - a.server) - (b.ourself - a.ourself)
	return max(0, other.Seconds()/wall)
}

// parseStatBusy returns the busy ticks of all CPUs from a /proc/stat text:
// the first "cpu " line's user, nice, system, irq, softirq and steal fields
// (proc(5)); idle and iowait are not busy, and guest time is already
// counted in user.
func parseStatBusy(text []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "cpu" {
			continue
		}
		// cpu user nice system idle iowait irq softirq steal ...
		if len(fields) < 9 {
			return 0, fmt.Errorf("/proc/stat: cpu line has %d fields, want at least 9", len(fields))
		}
		var busy uint64
		for _, i := range []int{1, 2, 3, 6, 7, 8} {
			v, err := strconv.ParseUint(fields[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i, err)
			}
			busy += v
		}
		return busy, nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}
