package procstat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// atClkTck is the auxiliary-vector entry holding the kernel's USER_HZ, the
// unit of /proc/<pid>/stat times (include/uapi/linux/auxvec.h).
const atClkTck = 17

// ClockTicks returns the clock-tick rate (ticks per second) used by
// /proc/<pid>/stat, read from this process's auxiliary vector; USER_HZ is the
// same for every process on a host.
func ClockTicks() (int, error) {
	auxv, err := unix.Auxv()
	if err != nil {
		return 0, fmt.Errorf("procstat: auxv: %w", err)
	}
	for _, kv := range auxv {
		if kv[0] == atClkTck && kv[1] > 0 {
			return int(kv[1]), nil
		}
	}
	return 0, errors.New("procstat: AT_CLKTCK missing from the auxiliary vector")
}

// processCPUClock returns the clockid of pid's whole-process scheduler CPU
// clock: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) = (~pid << 3) | 2
// (include/linux/posix-timers.h).
func processCPUClock(pid int) int32 {
	const cpuclockSched = 2
	return int32(^uint32(pid)<<3) | cpuclockSched
}

// CPUTime returns the CPU time (user + system) consumed so far by all threads
// of process pid, including threads that have exited, with nanosecond
// resolution. It reads the process's CPU-time clock, which any process may
// read for another on Linux.
func CPUTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("procstat: invalid pid %d", pid)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(processCPUClock(pid), &ts); err != nil {
		return 0, fmt.Errorf("procstat: CPU clock of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// StatCPUTime returns utime+stime of process pid from /proc/<pid>/stat,
// converted from clock ticks with ClockTicks. Its resolution is one tick
// (10 ms at the usual 100 Hz); it covers exited threads too.
func StatCPUTime(pid int) (time.Duration, error) {
	hz, err := ClockTicks()
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	ticks, err := parseStatTicks(b)
	if err != nil {
		return 0, err
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz), nil
}

// SchedstatCPUTime returns the sum of the on-CPU time of pid's live threads
// from /proc/<pid>/task/*/schedstat, in nanoseconds. Threads that have exited
// are missing from the sum; threads may also exit while it is read.
func SchedstatCPUTime(pid int) (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	var total uint64
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("procstat: %w", err)
		}
		ns, err := parseSchedstatNanos(b)
		if err != nil {
			return 0, err
		}
		total += ns
	}
	return time.Duration(total), nil
}

// RSS returns the resident set size of process pid in bytes (VmRSS in
// /proc/<pid>/status).
func RSS(pid int) (uint64, error) {
	b, err := readStatus(pid)
	if err != nil {
		return 0, err
	}
	return parseVmRSSBytes(b)
}

// RSSAnon returns the resident anonymous memory of process pid in bytes
// (RssAnon in /proc/<pid>/status): what a server's own data takes, without
// the pages of its binary and libraries.
func RSSAnon(pid int) (uint64, error) {
	b, err := readStatus(pid)
	if err != nil {
		return 0, err
	}
	return parseRssAnonBytes(b)
}

func readStatus(pid int) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	return b, nil
}

// OpenFDs returns the number of file descriptors process pid has open
// (the entries of /proc/<pid>/fd; reading another user's needs privilege).
func OpenFDs(pid int) (int, error) {
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	return len(entries), nil
}

// MachineCPU returns the CPU time all CPUs have spent working since boot:
// their elapsed time (CLOCK_MONOTONIC, the clock the kernel times idle
// with) less what /proc/stat counts as idle, iowait and steal. The kernel's
// work charged to no process, such as packet delivery in softirq, is
// included. Differences of two readings are exact to one /proc/stat unit
// (1/USER_HZ, 10 ms) in total, not one tick per CPU; they assume no CPU
// went on- or offline in between.
func MachineCPU() (time.Duration, error) {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	idleTicks, cpus, err := parseMachineIdle(b)
	if err != nil {
		return 0, err
	}
	hz, err := ClockTicks()
	if err != nil {
		return 0, err
	}
	idle := time.Duration(idleTicks) * time.Second / time.Duration(hz)
	return time.Duration(cpus)*time.Duration(now.Nano()) - idle, nil
}
