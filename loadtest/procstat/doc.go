// Package procstat reads another process's CPU time and resident memory on
// Linux, so the load generator can report a TURN server's cost per relayed
// packet and per allocation.
//
// CPU time comes from the process's CPU-time clock (clock_gettime with
// CPUCLOCK_SCHED for the whole thread group, see clock_gettime(2) and
// include/linux/posix-timers.h): nanosecond resolution, all threads including
// those that already exited. Two cross-checks are offered: utime+stime from
// /proc/<pid>/stat (clock ticks; the tick rate is read from the auxiliary
// vector, AT_CLKTCK, not assumed to be 100 Hz) and the sum of
// /proc/<pid>/task/*/schedstat (nanoseconds, live threads only; note that
// /proc/<pid>/schedstat alone covers the main thread only, which for a
// multi-threaded server such as a Go program is a small part of the total).
//
// Resident memory is VmRSS from /proc/<pid>/status (proc(5)), or its
// anonymous part, RssAnon; open file descriptors are counted in /proc/<pid>/fd.
//
// On systems other than Linux every function returns ErrUnsupported.
package procstat

import "errors"

// ErrUnsupported is returned on systems without Linux's /proc and CPU clocks.
var ErrUnsupported = errors.New("procstat: only supported on Linux")
