package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v2"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestServesAndWritesProfiles starts the harness, checks the relay answers
// a Binding request, asks for a heap profile, stops it and checks both
// profiles were written.
func TestServesAndWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	env := []string{
		"TURNSTILE_UDP_LISTEN=127.0.0.1:" + strconv.Itoa(port),
		"TURNSTILE_AUTH_SECRETS=0123456789abcdef0123",
		"TURNSTILE_PEER_ALLOW=127.0.0.0/8",
		"TURNSTILE_PORT_RANGE=10000-19999",
		"TURNSTILE_METRICS_LISTEN=",
		"TURNSTILE_LOG_LEVEL=warn",
	}
	cpu, heap := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "heap.pprof")
	sig := make(chan os.Signal, 1)
	done := make(chan error, 1)
	var log syncBuffer
	go func() {
		done <- run([]string{"-cpuprofile", cpu, "-heapprofile", heap, "-socket-buffer", "1048576"}, env, &log, sig)
	}()

	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	answered := false
	for i := 0; i < 50 && !answered; i++ {
		if _, err := conn.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			// Not listening yet: a refused or unanswered datagram.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		resp := &stun.Message{Raw: buf[:n]}
		answered = resp.Decode() == nil && resp.Type == stun.BindingSuccess
	}
	if !answered {
		t.Fatalf("no Binding success from the harness; log:\n%s", log.String())
	}
	sig <- syscall.SIGUSR1
	sig <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v; log:\n%s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	for _, f := range []string{cpu, heap} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("profile %s missing or empty: %v", f, err)
		}
	}
}

func TestRejectsBadUse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{"negative buffer", []string{"-socket-buffer", "-1"}, []string{"TURNSTILE_UDP_LISTEN=127.0.0.1:3478"}},
		{"negative workers", []string{"-workers", "-1"}, []string{"TURNSTILE_UDP_LISTEN=127.0.0.1:3478"}},
		{"stray argument", []string{"serve"}, []string{"TURNSTILE_UDP_LISTEN=127.0.0.1:3478"}},
		{"development mode", nil, nil},
		{"invalid configuration", nil, []string{"TURNSTILE_UDP_LISTEN=0.0.0.0:3478"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log syncBuffer
			if err := run(tt.args, tt.env, &log, make(chan os.Signal)); err == nil {
				t.Error("run accepted it")
			}
		})
	}
}
