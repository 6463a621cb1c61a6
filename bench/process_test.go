package bench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/stun/v2"
)

func TestProcessStopEndsAServer(t *testing.T) {
	p, err := startProcess("sleeper", exec.Command("sleep", "30"), filepath.Join(t.TempDir(), "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("stop took %v for a process that exits on SIGTERM", d)
	}
	if ended, _ := p.exited(); !ended {
		t.Error("process still running after stop")
	}
	if err := p.stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestProcessStopKillsAfterGrace(t *testing.T) {
	// The shell ignores SIGTERM, so only SIGKILL ends it.
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	p, err := startProcess("stubborn", cmd, filepath.Join(t.TempDir(), "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.grace = 200 * time.Millisecond
	time.Sleep(100 * time.Millisecond) // let the shell install its trap
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if ended, _ := p.exited(); !ended {
		t.Error("process still running after stop")
	}
}

func TestProcessThatDiedIsReported(t *testing.T) {
	p, err := startProcess("crasher", exec.Command("sh", "-c", "exit 3"), filepath.Join(t.TempDir(), "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	err = p.waitReady(context.Background(), time.Second, func(context.Context) error { return errors.New("not yet") })
	if err == nil {
		t.Fatal("waitReady succeeded for a dead process")
	}
	if err := p.stop(); err == nil {
		t.Error("stop did not report that the process had died on its own")
	}
}

func TestProcessStartFailure(t *testing.T) {
	_, err := startProcess("missing", exec.Command(filepath.Join(t.TempDir(), "no-such-binary")), filepath.Join(t.TempDir(), "log"), nil)
	if err == nil {
		t.Fatal("startProcess succeeded without a binary")
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	p, err := startProcess("sleeper", exec.Command("sleep", "30"), filepath.Join(t.TempDir(), "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	calls := 0
	err = p.waitReady(context.Background(), 300*time.Millisecond, func(context.Context) error {
		calls++
		return errors.New("not yet")
	})
	if err == nil || calls < 2 {
		t.Fatalf("waitReady = %v after %d probes, want a timeout after several", err, calls)
	}
}

// fakeSTUN answers Binding requests on a loopback socket with a success, or
// with an error response when fail is set.
func fakeSTUN(t *testing.T, fail bool) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil {
				continue
			}
			typ := stun.BindingSuccess
			if fail {
				typ = stun.BindingError
			}
			// A stray datagram first: the client must skip it.
			_, _ = c.WriteToUDP([]byte("not stun"), from)
			resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), typ)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(resp.Raw, from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestStunPing(t *testing.T) {
	ctx := context.Background()
	if err := stunPing(ctx, fakeSTUN(t, false)); err != nil {
		t.Errorf("stunPing to a Binding server: %v", err)
	}
	if err := stunPing(ctx, fakeSTUN(t, true)); err == nil {
		t.Error("stunPing accepted a Binding error response")
	}
	// Nothing listens on a port we just closed: no answer within the
	// timeout (or an ICMP port unreachable).
	port, err := freeUDPPort(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := stunPing(ctx, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)); err == nil {
		t.Error("stunPing succeeded with no server")
	}
}
