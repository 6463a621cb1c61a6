package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Machine describes where a run took place, for the report: the numbers are
// only comparable on the same machine in the same run.
type Machine struct {
	// CPUs is the number of CPUs this process may run on (nproc).
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	// Kernel is uname's release, e.g. "6.1.0-18-amd64".
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	// Coturn is the first line of `turnserver --version`-like output, when
	// turnserver was found.
	Coturn string `json:"coturn,omitempty"`
	// MemTotal is /proc/meminfo's MemTotal line, e.g. "24684168 kB".
	MemTotal string `json:"mem_total,omitempty"`
}

// DescribeMachine reads the CPU count, the CPU model from /proc/cpuinfo, the
// kernel release and coturn's version. Fields it cannot read stay empty.
func DescribeMachine(ctx context.Context, turnserver string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuinfoField(b, "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = cpuinfoField(b, "MemTotal")
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if turnserver != "" {
		m.Coturn = coturnVersion(ctx, turnserver)
	}
	return m
}

// cpuinfoField returns the value of the first "key : value" line of a
// /proc/cpuinfo- or /proc/meminfo-style text whose key is key.
func cpuinfoField(text []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// coturnVersion asks turnserver for its version. coturn 4.6 prints
// "Coturn-4.6.1 'Gorst'" for --version.
func coturnVersion(ctx context.Context, turnserver string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, turnserver, "--version").CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}
