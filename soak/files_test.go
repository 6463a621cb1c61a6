package soak

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/gateway"
)

// TestReloadFilesAreValid: every reload's secrets file loads by the
// relay's own rules with the soak's secret first (so its credentials stay
// valid), and every resources file loads into a gateway, one or two
// resources in turn (so each reload changes something).
func TestReloadFilesAreValid(t *testing.T) {
	dir := t.TempDir()
	secret := newSecret()
	gw, err := gateway.New(gateway.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secrets")
	var previous string
	for n := range 4 {
		if err := replaceFile(path, secretsFile(secret, n)); err != nil {
			t.Fatal(err)
		}
		got, err := config.ReadAuthSecretsFile(path)
		if err != nil {
			t.Fatalf("reload %d: %v", n, err)
		}
		if len(got) != 2 || got[0].Expose() != secret || got[1].Expose() == previous {
			t.Fatalf("reload %d: %d secrets, want the soak's first and a new second", n, len(got))
		}
		previous = got[1].Expose()
		if err := gw.Reload(resourcesFile(n)); err != nil {
			t.Fatalf("resources of reload %d: %v", n, err)
		}
		if want := 1 + n%2; gw.Snapshot().Len() != want {
			t.Fatalf("reload %d: %d resources, want %d", n, gw.Snapshot().Len(), want)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("the temporary file is left behind: %v", err)
	}
}

// TestCertificateLoads: the certificate and key files make a TLS key pair.
func TestCertificateLoads(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := writeCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		t.Fatal(err)
	}
}

// TestLogWatcher: lines are counted once each, a line written in two
// parts only when complete, and severities apart from messages.
func TestLogWatcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &logWatcher{path: path}
	write := func(s string) {
		t.Helper()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	scan := func() logCounts {
		t.Helper()
		c, err := w.scan()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	write(`{"severity":"INFO","message":"relay started"}` + "\n" +
		`{"severity":"INFO","message":"secrets reloaded","count":2}` + "\n" +
		`{"severity":"INFO","message":"gateway res`)
	if c := scan(); c.secretsReloaded != 1 || c.resourcesReloaded != 0 {
		t.Fatalf("after the first part: %+v", c)
	}
	write(`ources reloaded","resources":1}` + "\n" +
		`{"severity":"ERROR","message":"secrets file rejected; keeping the previous secrets"}` + "\n" +
		`{"severity":"WARN","message":"something"}` + "\n")
	want := logCounts{secretsReloaded: 1, resourcesReloaded: 1, rejected: 1, errors: 1, warnings: 1}
	if c := scan(); c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c := scan(); c != want {
		t.Fatalf("a scan with nothing new changed the counts: %+v", c)
	}
}
