package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Timeouts of the metrics HTTP server. Scrapers and probes send tiny
// requests and read a few hundred kilobytes at most; a client that is
// slower than this is not a scraper.
const (
	ReadHeaderTimeout = 5 * time.Second  // request line and headers
	ReadTimeout       = 10 * time.Second // whole request
	WriteTimeout      = 30 * time.Second // whole response
	IdleTimeout       = 60 * time.Second // keep-alive between requests
	MaxHeaderBytes    = 16 << 10         // request headers, bytes
)

// Server is the HTTP listener for /metrics, /healthz and /readyz. Create it
// with Listen and stop it with Shutdown. Safe for concurrent use.
type Server struct {
	http *http.Server
	addr netip.AddrPort
	done chan struct{} // closed when Serve has returned
}

// Listen binds addr (port 0 picks a free port; Addr reports it) and serves h
// on it in a goroutine. Server errors after the bind (failed accepts, bad
// requests) go to log at WARN; nil discards them.
func Listen(addr netip.AddrPort, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return serve(addr, newHTTPServer(h, log), log)
}

// newHTTPServer applies the documented limits.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve binds addr and runs hs on it in a goroutine.
func serve(addr netip.AddrPort, hs *http.Server, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	s := &Server{http: hs, addr: ln.Addr().(*net.TCPAddr).AddrPort(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "addr", s.addr.String(), "error", err.Error())
		}
	}()
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left. It returns once the serving goroutine has
// exited, so nothing of the server outlives the call.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	<-s.done
	return err
}
