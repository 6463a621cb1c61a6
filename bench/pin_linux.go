package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSet builds an affinity mask of cpus.
func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// PinThisProcess restricts every thread of this process to cpus
// (sched_setaffinity(2) per thread: the call is per thread, and a thread
// the runtime starts later inherits the mask of the thread that starts it).
// The load generator calls it before it starts any load, so that the
// servers get the other CPUs to themselves.
func PinThisProcess(cpus []int) error {
	set := cpuSet(cpus)
	// Threads may appear while the list is walked; walk until a pass
	// finds none that was not pinned before.
	pinned := map[int]bool{}
	for {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("bench: pinning the generator: %w", err)
		}
		fresh := false
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || pinned[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("bench: pinning thread %d to CPUs %v: %w", tid, cpus, err)
			}
			pinned[tid], fresh = true, true
		}
		if !fresh {
			return nil
		}
	}
}

// startOnCPUs starts cmd with its affinity restricted to cpus from the
// first instruction: the calling thread takes that mask for the fork,
// which the child inherits, and gets its own back afterwards. No cpus
// starts it as is.
func startOnCPUs(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		return fmt.Errorf("reading this thread's CPU affinity: %w", err)
	}
	set := cpuSet(cpus)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning to CPUs %v: %w", cpus, err)
	}
	startErr := cmd.Start()
	if err := unix.SchedSetaffinity(0, &own); err != nil {
		// A generator thread left on the server's CPUs would break the
		// separation the pinning promises: fail the measurement.
		return fmt.Errorf("restoring this thread's CPU affinity: %w", err)
	}
	return startErr
}

// affinityOf returns the CPUs process or thread pid may run on.
func affinityOf(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, err
	}
	var out []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out, nil
}
