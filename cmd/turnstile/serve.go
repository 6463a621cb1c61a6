package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/internal/wiring"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/metrics"
	"github.com/turnstile-relay/turnstile/relay"
	"github.com/turnstile-relay/turnstile/xdp"
)

// daemon is the running relay, what SIGHUP reloads, and the operations
// around it: metrics, health and readiness, summary and allocation logs.
type daemon struct {
	cfg   *config.Config
	log   *slog.Logger
	srv   *relay.Server
	creds *auth.Credentials
	certs *certificate
	gw    *gatewaySetup // nil without TURNSTILE_GATEWAY_RESOURCES_FILE

	lifecycle *metrics.Lifecycle // allocation counters, fed by onEvent
	allocLog  *allocationLog
	http      *metrics.Server // nil when TURNSTILE_METRICS_LISTEN is empty
	summary   *summarizer
	offload   *xdp.Offload // nil unless TURNSTILE_XDP attached the fast path
}

// metricsShutdownTimeout bounds how long a scrape in flight may delay exit.
const metricsShutdownTimeout = 5 * time.Second

// serve runs the relay until SIGTERM/SIGINT has drained it.
func serve(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "turnstile serve: takes no arguments (configuration is TURNSTILE_* variables)\n")
		return 2
	}
	cfg, err := config.Load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "turnstile: %v\n", err)
		return 1
	}
	gw, err := loadGateway(environ)
	if err != nil {
		fmt.Fprintf(stderr, "turnstile: %v\n", err)
		return 1
	}
	log := logging.New(stderr, cfg.LogLevel)
	d, err := start(cfg, gw, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	if cfg.Dev {
		printDevBanner(stdout, cfg, d.http)
	}
	return d.waitForSignals()
}

// start builds and starts the relay from cfg, with the gateway module when
// gw is not nil.
func start(cfg *config.Config, gw *gatewaySetup, log *slog.Logger) (*daemon, error) {
	for _, name := range cfg.Unrecognized {
		if !strings.HasPrefix(name, gatewayPrefix) {
			log.Warn("unknown setting ignored", "variable", name)
		}
	}
	for _, name := range unknownGatewayVariables(cfg.Unrecognized) {
		log.Warn("unknown setting ignored", "variable", name)
	}
	d := &daemon{cfg: cfg, log: log, gw: gw}
	rc, creds, err := wiring.Relay(cfg, log)
	if err != nil {
		return nil, err
	}
	d.creds = creds
	if gw != nil {
		rc.Extension = wiring.Gateway(gw.core, gw.resolver)
	}
	if len(cfg.TLSListen) > 0 {
		d.certs, err = loadCertificate(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, err
		}
		rc.TLS = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: d.certs.get}
	}
	if d.offload, err = startXDP(cfg, log); err != nil {
		return nil, err
	}
	if d.offload != nil {
		rc.Observer = d.offload
	}
	d.lifecycle = metrics.NewLifecycle()
	rc.Events = d.onEvent
	if d.allocLog, err = newAllocationLog(log); err != nil {
		return nil, err
	}
	srv, err := relay.New(rc)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		d.allocLog.close()
		d.closeXDP()
		return nil, err
	}
	d.srv = srv
	metricsAddr := "off"
	if cfg.MetricsListen.IsValid() {
		if err := d.serveMetrics(); err != nil {
			srv.Close()
			d.allocLog.close()
			d.closeXDP()
			return nil, err
		}
		metricsAddr = d.http.Addr().String()
	}
	d.summary = startSummary(srv, log, summaryInterval)
	if gw != nil {
		gw.logStart(log)
	}
	log.Info("relay started",
		"udp", addrList(srv.UDPAddrs()), "tcp", addrList(cfg.TCPListen), "tls", addrList(cfg.TLSListen),
		"relay_ips", fmt.Sprint(cfg.RelayIPs), "ports", fmt.Sprintf("%d-%d", cfg.PortRange.Min, cfg.PortRange.Max),
		"metrics", metricsAddr, "drain_timeout", cfg.DrainTimeout.String(),
		"realm", logging.Untrusted("realm", cfg.Realm).Value.String(), "version", version)
	return d, nil
}

// onEvent is relay.Config.Events: it runs on the packet loops and must not
// block, which both consumers guarantee (atomic adds, a non-blocking queue).
func (d *daemon) onEvent(ev relay.Event) {
	d.lifecycle.Observe(ev)
	d.allocLog.offer(ev)
}

// serveMetrics starts /metrics, /healthz and /readyz on
// TURNSTILE_METRICS_LISTEN. /readyz follows srv.Draining, so it turns 503
// the moment Drain is called.
func (d *daemon) serveMetrics() error {
	m, err := metrics.New(d.srv, d.lifecycle, d.log)
	if err != nil {
		return err
	}
	d.http, err = metrics.Listen(d.cfg.MetricsListen, m.Handler(), d.log)
	if err != nil {
		return fmt.Errorf("TURNSTILE_METRICS_LISTEN %s: %w", d.cfg.MetricsListen, err)
	}
	return nil
}

func addrList[T fmt.Stringer](list []T) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// waitForSignals reloads on SIGHUP and drains on SIGTERM/SIGINT: /readyz
// turns 503 and new allocations are refused at once, while existing ones
// relay until they end or the drain timeout passes; a second SIGTERM/SIGINT
// stops at once. Everything is shut down before it returns the exit code.
func (d *daemon) waitForSignals() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	defer d.shutdown()
	var sig os.Signal
	for sig = range sigs {
		if sig != syscall.SIGHUP {
			break
		}
		d.reload()
	}
	d.srv.Drain()
	d.log.Info("draining", "signal", sig.String(), "allocations", d.srv.ActiveAllocations(), "timeout", d.cfg.DrainTimeout.String())
	deadline := time.NewTimer(d.cfg.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for d.srv.ActiveAllocations() > 0 {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.reload()
				continue
			}
			d.log.Warn("second signal: stopping now", "signal", sig.String(), "allocations", d.srv.ActiveAllocations())
			return 0
		case <-deadline.C:
			d.log.Info("drain timeout reached", "allocations", d.srv.ActiveAllocations())
			return 0
		case <-tick.C:
		}
	}
	d.log.Info("drained")
	return 0
}

// shutdown closes the relay (ending the allocations still live), writes
// the allocation lines still queued, and stops the metrics listener after
// the scrapes in flight.
func (d *daemon) shutdown() {
	d.summary.close()
	d.srv.Close()
	d.closeXDP() // after the relay: every binding is unusable by now
	d.allocLog.close()
	if d.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		if err := d.http.Shutdown(ctx); err != nil {
			d.log.Warn("metrics listener did not stop cleanly", "error", err.Error())
		}
		cancel()
	}
	d.log.Info("stopped")
}

// reload re-reads the secrets file, the TLS certificate and the gateway's
// resources file. A file that fails to load keeps the previous value and
// is logged.
func (d *daemon) reload() {
	if d.gw != nil {
		d.gw.reload(d.log)
	}
	if path := d.cfg.AuthSecretsFile; path != "" {
		// The same rules as at start (config.ReadAuthSecretsFile): a file
		// that would not start the relay does not replace working secrets.
		loaded, err := config.ReadAuthSecretsFile(path)
		if err == nil {
			secrets := make([][]byte, len(loaded))
			for i, s := range loaded {
				secrets[i] = []byte(s.Expose())
			}
			if err = d.creds.SetSecrets(secrets); err == nil {
				d.log.Info("secrets reloaded", "file", path, "count", len(secrets))
			}
		}
		if err != nil {
			d.log.Error("secrets file rejected; keeping the previous secrets", "file", path, "error", err.Error())
		}
	}
	if d.certs != nil {
		if err := d.certs.reload(); err != nil {
			d.log.Error("certificate rejected; keeping the previous one", "cert", d.cfg.TLSCertFile, "error", err.Error())
		} else {
			d.log.Info("certificate reloaded", "cert", d.cfg.TLSCertFile)
		}
	}
}

// printDevBanner tells a newcomer how to use the development relay.
// httpSrv is the metrics listener, nil when disabled.
func printDevBanner(w io.Writer, cfg *config.Config, httpSrv *metrics.Server) {
	secret := []byte(cfg.AuthSecrets[0].Expose())
	user, pass := auth.MintREST(secret, "dev", 24*time.Hour, time.Now())
	udp := cfg.UDPListen[0]
	fmt.Fprintf(w, `turnstile development relay: UDP and TCP on %s, realm %q
  loopback peers are allowed (development only); the secret is random per start.
  username: %s
  password: %s
  try it:   turnutils_uclient -y -s -u '%s' -w '%s' -p %d %s
            (coturn's Debian package; -s uses Send indications, see docs/protocol.md on channel numbers)
`, udp, cfg.Realm, user, pass, user, pass, udp.Port(), udp.Addr())
	if httpSrv != nil {
		base := "http://" + httpSrv.Addr().String()
		fmt.Fprintf(w, "  metrics:  %s/metrics   health: %s/healthz   ready: %s/readyz\n", base, base, base)
	}
	fmt.Fprint(w, "  stop with Ctrl-C.\n")
}
