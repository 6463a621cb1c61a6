package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestNewVerifiesForLoopback(t *testing.T) {
	cert, pool := New(t)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestWriteFilesLoadAsKeyPair(t *testing.T) {
	certFile, keyFile := WriteFiles(t)
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
}
