package procstat

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// burn does a fixed amount of work on several goroutines, each locked to
// its own OS thread, and returns the sum of those threads' CPU times as
// measured by each thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID). Work, not
// wall time, is fixed so the test holds on a loaded machine.
func burn(t *testing.T) time.Duration {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sum time.Duration
	for i := 0; i < 3; i++ {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var start, end unix.Timespec
			if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &start); err != nil {
				t.Error(err)
				return
			}
			x := uint64(1)
			for j := 0; j < 60_000_000; j++ {
				x = x*6364136223846793005 + 1442695040888963407
			}
			runtime.KeepAlive(x)
			if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &end); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			sum += time.Duration(end.Nano() - start.Nano())
			mu.Unlock()
		})
	}
	wg.Wait()
	return sum
}

func TestClockTicks(t *testing.T) {
	hz, err := ClockTicks()
	if err != nil {
		t.Fatal(err)
	}
	// USER_HZ is 100 on every mainstream architecture, but the point of
	// reading it is not to assume; accept the values kernels have used.
	switch hz {
	case 100, 250, 300, 1000, 1024:
	default:
		t.Fatalf("implausible clock tick rate %d", hz)
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	before, err := CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	statBefore, err := StatCPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	threads := burn(t)
	after, err := CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	statAfter, err := StatCPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := SchedstatCPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	used := after - before
	// The process clock covers the burning threads and anything else the
	// process did meanwhile (GC, other tests' goroutines are idle).
	if used < threads || used > threads+200*time.Millisecond {
		t.Fatalf("process CPU clock advanced %v; the burning threads used %v", used, threads)
	}
	// utime+stime is scaled from the same runtime and agrees to within a few
	// ticks plus the gap between the reads.
	hz, _ := ClockTicks()
	tick := time.Second / time.Duration(hz)
	if d := (statAfter - statBefore) - used; d > 5*tick+20*time.Millisecond || d < -5*tick-20*time.Millisecond {
		t.Fatalf("stat says %v, CPU clock %v", statAfter-statBefore, used)
	}
	// Live threads' schedstat sum cannot exceed the whole-process clock read
	// slightly later, and covers most of it (Go keeps its threads).
	total, _ := CPUTime(pid)
	if sched > total+time.Millisecond || sched < total/2 {
		t.Fatalf("schedstat sum %v vs process clock %v", sched, total)
	}
}

// TestRSSOfThisProcess touches fresh anonymous pages and checks that both
// VmRSS and RssAnon grow by about their size.
func TestRSSOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	readers := map[string]func(int) (uint64, error){"RSS": RSS, "RSSAnon": RSSAnon}
	before := map[string]uint64{}
	for name, read := range readers {
		v, err := read(pid)
		if err != nil {
			t.Fatal(err)
		}
		if v == 0 {
			t.Fatalf("zero %s", name)
		}
		before[name] = v
	}
	// Fresh anonymous pages, not Go heap memory that may already be
	// resident from earlier tests.
	const size = 64 << 20
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // touch every page so it becomes resident
	}
	for name, read := range readers {
		after, err := read(pid)
		if err != nil {
			t.Fatal(err)
		}
		if after < before[name]+size*3/4 {
			t.Fatalf("%s grew from %d to %d after touching %d bytes", name, before[name], after, size)
		}
	}
}

// TestOpenFDsOfThisProcess: two more descriptors (a pipe) are counted, and
// gone again once closed.
func TestOpenFDsOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	before, err := OpenFDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	during, err := OpenFDs(pid)
	r.Close()
	w.Close()
	if err != nil || during != before+2 {
		t.Fatalf("%d descriptors with a pipe open (%v), want %d", during, err, before+2)
	}
	if after, err := OpenFDs(pid); err != nil || after != before {
		t.Fatalf("%d descriptors after closing the pipe (%v), want %d", after, err, before)
	}
}

func TestInvalidPID(t *testing.T) {
	if _, err := CPUTime(0); err == nil {
		t.Fatal("pid 0 accepted")
	}
	// PID max on Linux is at most 2^22, so this pid cannot exist.
	const missing = 1 << 23
	if _, err := CPUTime(missing); err == nil {
		t.Fatal("missing pid accepted by CPUTime")
	}
	if _, err := RSS(missing); err == nil {
		t.Fatal("missing pid accepted by RSS")
	}
	if _, err := RSSAnon(missing); err == nil {
		t.Fatal("missing pid accepted by RSSAnon")
	}
	if _, err := OpenFDs(missing); err == nil {
		t.Fatal("missing pid accepted by OpenFDs")
	}
	if _, err := StatCPUTime(missing); err == nil {
		t.Fatal("missing pid accepted by StatCPUTime")
	}
}

// sink keeps the compiler from dropping the burn loop.
var sink uint64

// TestMachineCPUCoversThisProcess: the machine's work grows at least by
// what this process burns on the CPU meanwhile and at most by the wall time
// times the CPUs (a tick per CPU of slack either way: /proc/stat's unit).
func TestMachineCPUCoversThisProcess(t *testing.T) {
	start := time.Now()
	before, err := MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	ownBefore, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn user time (arithmetic, not the CPU-clock system calls), so
	// the machine's user field must carry it.
	x := uint64(1)
	for {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		own, err := CPUTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if own-ownBefore > 200*time.Millisecond {
			break
		}
	}
	sink = x
	ownAfter, _ := CPUTime(os.Getpid())
	after, err := MachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	hz, _ := ClockTicks()
	slack := time.Duration(runtime.NumCPU()) * time.Second / time.Duration(hz)
	wall := time.Since(start)
	if grew, own := after-before, ownAfter-ownBefore; grew+slack < own || grew > wall*time.Duration(runtime.NumCPU())+slack {
		t.Fatalf("machine work grew %v while this process used %v in %v of wall time on %d CPUs", grew, own, wall, runtime.NumCPU())
	}
}
