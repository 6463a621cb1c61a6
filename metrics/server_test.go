package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, src *fakeSource, log *slog.Logger) *Server {
	t.Helper()
	m := newTestMetrics(t, src)
	s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), m.Handler(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func request(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestHandlerEndpoints(t *testing.T) {
	src := &fakeSource{}
	src.set(sampleStats(), false)
	s := startServer(t, src, nil)
	base := "http://" + s.Addr().String()
	for _, tc := range []struct {
		name, method, path string
		draining           bool
		code               int
		body               string // substring of the body
	}{
		{"healthz", "GET", "/healthz", false, 200, "ok"},
		{"healthz while draining", "GET", "/healthz", true, 200, "ok"},
		{"readyz", "GET", "/readyz", false, 200, "ready"},
		{"readyz while draining", "GET", "/readyz", true, 503, "draining"},
		{"head readyz", "HEAD", "/readyz", false, 200, ""},
		{"metrics", "GET", "/metrics", false, 200, `turnstile_relayed_packets_total{datapath="userspace",direction="to_peer",transport="udp"} 100`},
		{"metrics shows draining", "GET", "/metrics", true, 200, "turnstile_draining 1"},
		{"post metrics", "POST", "/metrics", false, 405, ""},
		{"delete readyz", "DELETE", "/readyz", false, 405, ""},
		{"unknown path", "GET", "/debug/pprof/", false, 404, ""},
		{"root", "GET", "/", false, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.set(sampleStats(), tc.draining)
			code, body, hdr := request(t, tc.method, base+tc.path)
			if code != tc.code {
				t.Fatalf("%s %s: %d, want %d (body %q)", tc.method, tc.path, code, tc.code, body)
			}
			if !strings.Contains(body, tc.body) {
				t.Fatalf("%s %s: body %q lacks %q", tc.method, tc.path, body, tc.body)
			}
			if tc.path == "/readyz" && tc.code != 405 && hdr.Get("Cache-Control") != "no-store" {
				t.Fatalf("probe answers must not be cached")
			}
		})
	}
}

// TestServerTimeouts: a client that sends half a request line is cut off
// after ReadHeaderTimeout; the configured limits are the documented ones.
func TestServerTimeouts(t *testing.T) {
	h := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if h.ReadHeaderTimeout != ReadHeaderTimeout || h.ReadTimeout != ReadTimeout ||
		h.WriteTimeout != WriteTimeout || h.IdleTimeout != IdleTimeout || h.MaxHeaderBytes != MaxHeaderBytes {
		t.Fatalf("server limits %v/%v/%v/%v/%d differ from the documented ones",
			h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.MaxHeaderBytes)
	}
	// A shorter header timeout on this instance, to see it act quickly.
	h.ReadHeaderTimeout = 200 * time.Millisecond
	s, err := serve(netip.MustParseAddrPort("127.0.0.1:0"), h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	buf, _ := io.ReadAll(c)
	if time.Since(start) >= 5*time.Second {
		t.Fatal("the server kept a client with an incomplete request past ReadHeaderTimeout")
	}
	if bytes.Contains(buf, []byte("200 OK")) {
		t.Fatalf("incomplete request was answered: %q", buf)
	}
}

// TestShutdown: after Shutdown the port refuses connections and Shutdown
// has waited for the serving goroutine.
func TestShutdown(t *testing.T) {
	m := newTestMetrics(t, &fakeSource{})
	s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), m.Handler(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := request(t, "GET", "http://"+s.Addr().String()+"/healthz"); code != 200 {
		t.Fatalf("healthz %d before shutdown", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("Shutdown returned before the serving goroutine")
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after Shutdown")
	}
}

func TestListenError(t *testing.T) {
	s := startServer(t, &fakeSource{}, nil)
	if _, err := Listen(s.Addr(), http.NotFoundHandler(), nil); err == nil {
		t.Fatal("second Listen on a bound port succeeded")
	}
}
