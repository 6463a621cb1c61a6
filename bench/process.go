package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// stopGrace is how long a server may take to exit after SIGTERM before it
// is killed.
const stopGrace = 5 * time.Second

// process is a server running as a child process. Its output goes to a log
// file so a failure can be explained. Methods are not safe for concurrent
// use; Stop may be called more than once.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	stopped bool
	// grace is how long stop waits after SIGTERM (stopGrace).
	grace time.Duration
}

// startProcess starts cmd with stdout and stderr appended to logPath,
// restricted to cpus when there are any (startOnCPUs). On
// Linux the child is killed by the kernel if this process dies first
// (PR_SET_PDEATHSIG), so a crashed or killed benchmark leaves no server
// behind.
func startProcess(name string, cmd *exec.Cmd, logPath string, cpus []int) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttributes()
	if err := startOnCPUs(cmd, cpus); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, cmd.Path, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{}), grace: stopGrace}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to p.grace for the exit, then kills the
// process and waits for it. It returns an error only when the process had
// already died on its own before stop (a crash the benchmark should report)
// or could not be reaped.
func (p *process) stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	if ended, err := p.exited(); ended {
		return fmt.Errorf("%s exited before it was stopped: %v (log %s)", p.name, err, p.logPath)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(p.grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid())
	}
}

// waitReady polls until ready returns nil, the process exits, ctx ends or
// timeout passes.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if ended, err := p.exited(); ended {
			return fmt.Errorf("%s exited during start-up: %v (log %s)", p.name, err, p.logPath)
		}
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready after %v: %v (log %s)", p.name, timeout, last, p.logPath)
			}
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
