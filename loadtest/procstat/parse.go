package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

var errFormat = errors.New("procstat: unexpected /proc format")

// parseStatTicks returns utime+stime in clock ticks from the contents of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted after the last ')'
// (proc(5)): utime is field 14 and stime field 15.
func parseStatTicks(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errFormat
	}
	fields := bytes.Fields(b[i+1:])
	// After ')', fields[0] is field 3 (state), so field n is fields[n-3].
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(fields) <= stimeIdx {
		return 0, errFormat
	}
	u, err := strconv.ParseUint(string(fields[utimeIdx]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: utime: %w", err)
	}
	s, err := strconv.ParseUint(string(fields[stimeIdx]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: stime: %w", err)
	}
	return u + s, nil
}

// parseSchedstatNanos returns the first field of a schedstat file: time spent
// on the CPU in nanoseconds (Documentation/scheduler/sched-stats.rst).
func parseSchedstatNanos(b []byte) (uint64, error) {
	fields := bytes.Fields(b)
	if len(fields) < 1 {
		return 0, errFormat
	}
	return strconv.ParseUint(string(fields[0]), 10, 64)
}

// parseVmRSSBytes finds "VmRSS: <n> kB" in /proc/<pid>/status and returns
// bytes.
func parseVmRSSBytes(b []byte) (uint64, error) { return parseStatusBytes(b, "VmRSS:") }

// parseRssAnonBytes finds "RssAnon: <n> kB" in /proc/<pid>/status: the
// resident anonymous memory (heap, stacks), without the file-backed pages of
// the binary and libraries that VmRSS also counts (proc(5)).
func parseRssAnonBytes(b []byte) (uint64, error) { return parseStatusBytes(b, "RssAnon:") }

// parseStatusBytes finds the line "<field> <n> kB" in /proc/<pid>/status and
// returns bytes. The kernel prints the value in kibibytes despite the "kB"
// label.
func parseStatusBytes(b []byte, field string) (uint64, error) {
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte(field))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, errFormat
		}
		kib, err := strconv.ParseUint(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: %s %w", field, err)
		}
		return kib * 1024, nil
	}
	// Kernel threads and zombies have no memory lines.
	return 0, errFormat
}

// parseMachineIdle reads from the contents of /proc/stat the ticks all
// CPUs spent not working (the first "cpu " line's idle, iowait and, where
// the kernel reports it, steal: time the hypervisor gave to other guests;
// proc(5)) and how many CPUs have a "cpuN" line.
//
// Idle and iowait are the one exact part of /proc/stat: the kernel times
// them at every entry to and exit from the idle loop (NO_HZ), while user,
// system, irq and softirq are sampled at the scheduler tick. A paced load
// wakes the CPUs for tens of microseconds at a time, far below a tick of
// 4 ms, so the sampled fields scatter by several percent from one window
// to the next; the elapsed time less the exact idle time does not.
func parseMachineIdle(b []byte) (idleTicks uint64, cpus int, err error) {
	found := false
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		fields := bytes.Fields(line)
		if len(fields) == 0 || !bytes.HasPrefix(fields[0], []byte("cpu")) {
			continue
		}
		if name := fields[0][3:]; len(name) > 0 {
			if _, err := strconv.ParseUint(string(name), 10, 32); err == nil {
				cpus++
			}
			continue
		}
		if found {
			continue // only the first "cpu " line is the total
		}
		// cpu user nice system idle iowait irq softirq [steal ...]
		if len(fields) < 8 {
			return 0, 0, errFormat
		}
		found = true
		for _, i := range []int{4, 5, 8} {
			if i >= len(fields) {
				break // kernels before 2.6.11 report no steal
			}
			v, err := strconv.ParseUint(string(fields[i]), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("procstat: /proc/stat cpu field %d: %w", i, err)
			}
			idleTicks += v
		}
	}
	if !found || cpus == 0 {
		return 0, 0, errFormat
	}
	return idleTicks, cpus, nil
}
