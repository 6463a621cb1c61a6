package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestStartOnCPUs: a server started on a CPU set runs on exactly those
// CPUs, and the starting thread (the load generator's) gets its own
// affinity back.
func TestStartOnCPUs(t *testing.T) {
	own, err := affinityOf(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) < 2 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs two CPUs to test pinning; this process may use %v", own)
		}
		t.Skipf("pinning to a subset needs two CPUs; this process may use %v", own)
	}
	target := own[len(own)-1:]
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := startProcess("sleeper", exec.Command("sleep", "30"), filepath.Join(t.TempDir(), "log"), target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	got, err := affinityOf(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, target) {
		t.Errorf("server runs on CPUs %v, want %v", got, target)
	}
	after, err := affinityOf(0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after, own) {
		t.Errorf("the starting thread is left on CPUs %v, had %v", after, own)
	}
}

// TestPinThisProcess: every thread of a process that pinned itself runs on
// the generator's CPUs afterwards. The pinning happens in a child (this
// test binary run again), so the other tests keep their CPUs.
func TestPinThisProcess(t *testing.T) {
	if cpus := os.Getenv("BENCH_PIN_CHILD"); cpus != "" {
		want, _ := strconv.Atoi(cpus)
		if err := PinThisProcess([]int{want}); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			tid, _ := strconv.Atoi(e.Name())
			got, err := affinityOf(tid)
			if err != nil {
				continue // the thread ended meanwhile
			}
			if !slices.Equal(got, []int{want}) {
				t.Errorf("thread %d runs on CPUs %v, want [%d]", tid, got, want)
			}
		}
		return
	}
	own, err := affinityOf(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) < 2 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs two CPUs to test pinning; this process may use %v", own)
		}
		t.Skipf("pinning to a subset needs two CPUs; this process may use %v", own)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPinThisProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "BENCH_PIN_CHILD="+strconv.Itoa(own[0]))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPinThisProcess") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
