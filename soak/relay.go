package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// relayPortRange is the relayed port range: below Linux's ephemeral range
// (32768-60999), where the listener ports come from, as the relay's
// configuration requires.
const relayPortRange = "20000-29999"

// relayProcess is the relay under soak, started from its binary with a
// secrets file, a gateway resources file, UDP, TCP and TLS listeners and
// metrics on loopback. Its output goes to relay.log in the run's
// directory.
type relayProcess struct {
	cmd     *exec.Cmd
	logPath string
	log     *logWatcher
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done closes

	udp, tcp, tls netip.AddrPort
	metricsURL    string // http://127.0.0.1:port
	certFile      string
	secretsFile   string
	resourcesFile string
	secret        string // the first secret of the file, which mints the soak's credentials
}

// startRelay writes the relay's files into dir, starts binary and waits
// until /readyz answers.
func startRelay(ctx context.Context, binary, dir string) (*relayProcess, error) {
	p := &relayProcess{logPath: filepath.Join(dir, "relay.log"), done: make(chan struct{}), secret: newSecret()}
	var err error
	if p.certFile, err = writeCertFiles(dir); err != nil {
		return nil, err
	}
	p.secretsFile = filepath.Join(dir, "secrets")
	p.resourcesFile = filepath.Join(dir, "resources.json")
	if err := replaceFile(p.secretsFile, secretsFile(p.secret, 0)); err != nil {
		return nil, err
	}
	if err := replaceFile(p.resourcesFile, resourcesFile(0)); err != nil {
		return nil, err
	}
	ports, err := freePorts("udp", "tcp", "tcp", "tcp")
	if err != nil {
		return nil, err
	}
	loop := netip.MustParseAddr("127.0.0.1")
	p.udp, p.tcp, p.tls = netip.AddrPortFrom(loop, ports[0]), netip.AddrPortFrom(loop, ports[1]), netip.AddrPortFrom(loop, ports[2])
	metrics := netip.AddrPortFrom(loop, ports[3])
	p.metricsURL = "http://" + metrics.String()
	env := []string{
		"TURNSTILE_UDP_LISTEN=" + p.udp.String(),
		"TURNSTILE_TCP_LISTEN=" + p.tcp.String(),
		"TURNSTILE_TLS_LISTEN=" + p.tls.String(),
		"TURNSTILE_TLS_CERT_FILE=" + p.certFile,
		"TURNSTILE_TLS_KEY_FILE=" + strings.TrimSuffix(p.certFile, ".crt") + ".key",
		"TURNSTILE_AUTH_SECRETS_FILE=" + p.secretsFile,
		"TURNSTILE_GATEWAY_RESOURCES_FILE=" + p.resourcesFile,
		"TURNSTILE_METRICS_LISTEN=" + metrics.String(),
		"TURNSTILE_PORT_RANGE=" + relayPortRange,
		"TURNSTILE_RELAY_IPS=127.0.0.1",
		// The echo peers live on loopback, which the peer policy refuses
		// unless allowed; the relay's own listeners stay refused anyway.
		"TURNSTILE_PEER_ALLOW=127.0.0.0/8",
		"TURNSTILE_REALM=soak",
		"TURNSTILE_DRAIN_TIMEOUT=5s",
		"TURNSTILE_LOG_LEVEL=info",
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(binary)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = childAttributes()
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("soak: start %s: %w", binary, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	p.log = &logWatcher{path: p.logPath}
	if err := p.waitReady(ctx, 15*time.Second); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// writeCertFiles writes the TLS certificate and key (tls.crt, tls.key).
func writeCertFiles(dir string) (string, error) {
	cert, _, err := writeCertificate(dir)
	return cert, err
}

// freePorts returns loopback ports that were free a moment ago, one per
// network ("udp" or "tcp"), all held until every one is found so none
// repeats. Another process may take one before the relay binds it; the
// relay then fails to start and says so.
func freePorts(networks ...string) ([]uint16, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var ports []uint16
	for _, n := range networks {
		if n == "udp" {
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			closers = append(closers, c)
			ports = append(ports, uint16(c.LocalAddr().(*net.UDPAddr).Port))
			continue
		}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		closers = append(closers, l)
		ports = append(ports, uint16(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// pid is the relay's process id.
func (p *relayProcess) pid() int { return p.cmd.Process.Pid }

// exited reports whether the relay has ended, and how.
func (p *relayProcess) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

func (p *relayProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		if ended, err := p.exited(); ended {
			return fmt.Errorf("soak: the relay exited during start-up: %v (log %s)", err, p.logPath)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("soak: the relay was not ready after %v (log %s)", timeout, p.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reload rewrites the secrets and resources files (valid, the soak's
// secret kept first) as reload n and sends SIGHUP, then waits until the
// relay's log shows the reload of both files: n reloads of each so far.
func (p *relayProcess) reload(ctx context.Context, n int) error {
	if err := replaceFile(p.secretsFile, secretsFile(p.secret, n)); err != nil {
		return err
	}
	if err := replaceFile(p.resourcesFile, resourcesFile(n)); err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		counts, err := p.log.scan()
		if err != nil {
			return err
		}
		if counts.secretsReloaded >= n && counts.resourcesReloaded >= n {
			return nil
		}
		if counts.rejected > 0 {
			return errors.New("the relay rejected a file")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reload %d not in the log after 10 s (%d secrets, %d resources reloads)", n, counts.secretsReloaded, counts.resourcesReloaded)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the exit (the drain is immediate once
// no allocation is left, at most TURNSTILE_DRAIN_TIMEOUT otherwise). It
// reports a relay that had died before, or that did not exit cleanly.
func (p *relayProcess) stop() error {
	if ended, err := p.exited(); ended {
		return fmt.Errorf("soak: the relay exited before the end: %v (log %s)", err, p.logPath)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("soak: the relay's exit: %v (log %s)", p.waitErr, p.logPath)
		}
		return nil
	case <-time.After(15 * time.Second):
		p.kill()
		return fmt.Errorf("soak: the relay did not exit within 15 s of SIGTERM (log %s)", p.logPath)
	}
}

// kill ends the relay at once and waits for it.
func (p *relayProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// logCounts are the relay log lines the soak looks for.
type logCounts struct {
	secretsReloaded   int
	resourcesReloaded int
	rejected          int // a reloaded file refused
	errors            int // lines of severity ERROR
	warnings          int // lines of severity WARN
}

// logWatcher counts lines of the relay's JSON log incrementally: each scan
// reads what was appended since the last one, whole lines only.
type logWatcher struct {
	path    string
	offset  int64
	partial []byte
	counts  logCounts
}

func (w *logWatcher) scan() (logCounts, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return w.counts, err
	}
	defer f.Close()
	if _, err := f.Seek(w.offset, io.SeekStart); err != nil {
		return w.counts, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return w.counts, err
	}
	w.offset += int64(len(data))
	data = append(w.partial, data...)
	last := bytes.LastIndexByte(data, '\n')
	w.partial = append([]byte(nil), data[last+1:]...)
	if last >= 0 {
		w.counts.add(data[:last+1])
	}
	return w.counts, nil
}

// add counts the complete lines in data.
func (c *logCounts) add(data []byte) {
	for line := range bytes.Lines(data) {
		switch {
		case bytes.Contains(line, []byte(`"message":"secrets reloaded"`)):
			c.secretsReloaded++
		case bytes.Contains(line, []byte(`"message":"gateway resources reloaded"`)):
			c.resourcesReloaded++
		case bytes.Contains(line, []byte(`file rejected`)):
			c.rejected++
		}
		switch {
		case bytes.Contains(line, []byte(`"severity":"ERROR"`)):
			c.errors++
		case bytes.Contains(line, []byte(`"severity":"WARN"`)):
			c.warnings++
		}
	}
}
