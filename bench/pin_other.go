//go:build !linux

package bench

import (
	"errors"
	"os/exec"
)

var errNoAffinity = errors.New("bench: CPU pinning needs Linux (sched_setaffinity)")

// PinThisProcess needs Linux.
func PinThisProcess(cpus []int) error { return errNoAffinity }

func startOnCPUs(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	return errNoAffinity
}

func affinityOf(pid int) ([]int, error) { return nil, errNoAffinity }
