package bench

import (
	"os"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

// cpuSnapshot is what foreignMeter reads at the start and end of a load.
type cpuSnapshot struct {
	at      time.Time
	busy    time.Duration // the machine's work, all CPUs (procstat.MachineCPU)
	server  time.Duration // the server's CPU time
	ourself time.Duration // this process's CPU time (the load generator)
}

// foreignMeter measures how much CPU processes other than the server and
// the load generator used during a load: on a shared machine, a busy
// neighbour skews a measurement, and the report should say so.
type foreignMeter struct {
	serverPID int
}

func newForeignMeter(serverPID int) *foreignMeter {
	return &foreignMeter{serverPID: serverPID}
}

// snapshot reads the machine's work with the measure the loads' machine CPU
// uses, so the two agree on what a busy CPU is.
func (f *foreignMeter) snapshot() (cpuSnapshot, error) {
	s := cpuSnapshot{at: time.Now()}
	var err error
	if s.busy, err = procstat.MachineCPU(); err != nil {
		return s, err
	}
	if s.server, err = procstat.CPUTime(f.serverPID); err != nil {
		return s, err
	}
	s.ourself, err = procstat.CPUTime(os.Getpid())
	return s, err
}

// cores returns the CPU used between a and b by everything but the server
// and this process, in cores (CPU seconds per second), never below 0 (the
// machine's work is exact to one /proc/stat unit, the processes' to the
// nanosecond).
func (f *foreignMeter) cores(a, b cpuSnapshot) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	other := (b.busy - a.busy) - (b.server - a.server) - (b.ourself - a.ourself)
	return max(0, other.Seconds()/wall)
}
