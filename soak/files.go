package soak

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// writeCertificate writes a self-signed ECDSA certificate for 127.0.0.1
// and its key as PEM files in dir; the certificate is also the CA the
// soak's TLS clients trust.
func writeCertificate(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "turnstile soak"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// newSecret returns a random TURN REST secret (32 hex characters; the relay
// wants at least 16 bytes).
func newSecret() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// secretsFile is the content of the secrets file at reload n: the secret
// the soak's credentials are minted with first, so they stay valid at
// every reload, then a secret that changes every time, so each reload
// really changes the relay's secrets.
func secretsFile(current string, n int) []byte {
	return fmt.Appendf(nil, "# turnstile soak, reload %d\n%s\nrotating-secret-%016d\n", n, current, n)
}

// resourcesFile is the gateway's resources file at reload n: one or two
// resources in turn, so each reload changes the set. The names resolve
// nowhere on purpose; the soak's traffic goes to plain peers.
func resourcesFile(n int) []byte {
	if n%2 == 0 {
		return []byte(`{"resources": [
  {"name": "soak-a", "domain": "a.soak.invalid", "users": ["*"], "filters": [{"protocol": "udp", "ports": "5000-5999"}]}
]}
`)
	}
	return fmt.Appendf(nil, `{"resources": [
  {"name": "soak-a", "domain": "a.soak.invalid", "users": ["*"], "filters": [{"protocol": "udp", "ports": "5000-5999"}]},
  {"name": "soak-b-%d", "cidr": "192.0.2.0/24", "users": ["soak-user"]}
]}
`, n)
}

// replaceFile writes data to path through a temporary file and a rename,
// so the relay never reads a half-written file.
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
