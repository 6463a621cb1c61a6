package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireNetnsProfile returns ip(8) and turnserver, skipping without root
// or either tool, and failing instead under CI (docs/testing.md).
func requireNetnsProfile(t *testing.T) (ip, turnserver string) {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err == nil {
		turnserver, err = exec.LookPath("turnserver")
	}
	if err == nil && os.Geteuid() != 0 {
		err = os.ErrPermission
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the netns profile needs root, ip(8) and coturn under CI: %v", err)
		}
		t.Skipf("the netns profile needs root, ip(8) and coturn: %v", err)
	}
	return ip, turnserver
}

// TestNetnsProfileRunsEveryPath runs the profile for real, one short
// repetition: the table names all four datapaths and the XDP run passed
// BuildProfile's kernel-share check (its datapath="xdp" count over the
// measured window within 1 % of the window's datagrams).
func TestNetnsProfileRunsEveryPath(t *testing.T) {
	ip, turnserver := requireNetnsProfile(t)
	bin := t.TempDir()
	for _, pkg := range []string{"turnstile", "turnstile-load"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, pkg), "github.com/turnstile-relay/turnstile/cmd/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	params := QuickParams()
	// The full 240 flows from the client namespace's one address, so a
	// per-source limit that fails their setup fails the test.
	params.RealisticDuration, params.Warmup = time.Second, 500*time.Millisecond
	r := &NetnsRunner{
		IP: ip, Turnstile: filepath.Join(bin, "turnstile"), Turnserver: turnserver, Load: filepath.Join(bin, "turnstile-load"),
		Settings: ServerSettings{Secret: "0123456789abcdef0123456789abcdef", Realm: "bench.test", Threads: 1},
		Params:   params, Runs: 1, Dir: t.TempDir(), Log: testLog{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, windows, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(windows) != len(ProfilePaths) {
		t.Fatalf("%d windows, want %d", len(windows), len(ProfilePaths))
	}
	for _, w := range windows {
		// Every datapath of a repetition carries the same flow schedule.
		if w.Seed == 0 || w.Seed != windows[0].Seed {
			t.Errorf("%s window: seed %d, the repetition's first window %d", w.Path, w.Seed, windows[0].Seed)
		}
		if w.Path != PathXDP {
			continue
		}
		if err := w.checkKernelShare(); err != nil {
			t.Error(err)
		}
		t.Logf("xdp window: the kernel relayed %d of %d delivered datagrams (%.3f)", w.KernelRelayed, w.Delivered, float64(w.KernelRelayed)/float64(w.Delivered))
	}
	table := res.Markdown()
	for _, p := range []string{PathXDP, PathUserspace, PathCoturn, "direct (baseline)"} {
		if !strings.Contains(table, "| "+p+" |") {
			t.Errorf("the table has no %s row:\n%s", p, table)
		}
	}
	t.Log("\n" + table)
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
