//go:build !linux

package procstat

import "time"

// ClockTicks is only available on Linux.
func ClockTicks() (int, error) { return 0, ErrUnsupported }

// CPUTime is only available on Linux.
func CPUTime(pid int) (time.Duration, error) { return 0, ErrUnsupported }

// StatCPUTime is only available on Linux.
func StatCPUTime(pid int) (time.Duration, error) { return 0, ErrUnsupported }

// SchedstatCPUTime is only available on Linux.
func SchedstatCPUTime(pid int) (time.Duration, error) { return 0, ErrUnsupported }

// RSS is only available on Linux.
func RSS(pid int) (uint64, error) { return 0, ErrUnsupported }

// RSSAnon is only available on Linux.
func RSSAnon(pid int) (uint64, error) { return 0, ErrUnsupported }

// OpenFDs is only available on Linux.
func OpenFDs(pid int) (int, error) { return 0, ErrUnsupported }

// MachineCPU is only available on Linux.
func MachineCPU() (time.Duration, error) { return 0, ErrUnsupported }
