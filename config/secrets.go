package config

import (
	"bytes"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/logging"
)

// minSecretBytes is the shortest TURN REST secret accepted. Every user who
// is handed a credential holds a username and its HMAC under the secret, so
// a short secret can be found offline by brute force and then used to mint
// credentials at will.
const minSecretBytes = 16

// maxSecretsFileBytes bounds how much of a secrets file is read; a file
// larger than that (MaxSecrets lines of MaxSecretBytes, with room for
// comments) is not a secrets file.
const maxSecretsFileBytes = 64 << 10

// maxUsernameBytes: RFC 8489 §14.3 requires a USERNAME of fewer than 509
// bytes, so a longer configured name could never log in.
const maxUsernameBytes = 508

// authSecrets parses TURNSTILE_AUTH_SECRETS.
func (p *problems) authSecrets(text string) []logging.Secret {
	items := p.items(varAuthSecrets, text, true)
	raw := make([][]byte, len(items))
	for i, s := range items {
		raw[i] = []byte(s)
	}
	return p.checkSecrets(varAuthSecrets, "", raw)
}

// ReadAuthSecretsFile reads a TURN REST secrets file (TURNSTILE_AUTH_SECRETS_FILE)
// under exactly the rules Load applies, for the daemon to rotate secrets
// without restarting: auth.ParseSecretsFile's format, at most
// auth.MaxSecrets secrets of at least 16 bytes each. The error, if any, is an
// *Error naming the variable; it never contains a secret.
func ReadAuthSecretsFile(path string) ([]logging.Secret, error) {
	var p problems
	secrets := p.secretsFile(path)
	if len(p.errs) > 0 {
		return nil, p.errs[0]
	}
	return secrets, nil
}

// secretsFile reads and parses TURNSTILE_AUTH_SECRETS_FILE.
func (p *problems) secretsFile(path string) []logging.Secret {
	f, err := os.Open(path)
	if err != nil {
		p.add(varAuthSecretsFile, path, "%v", err)
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretsFileBytes+1))
	switch {
	case err != nil:
		p.add(varAuthSecretsFile, path, "%v", err)
		return nil
	case len(data) > maxSecretsFileBytes:
		p.add(varAuthSecretsFile, path, "larger than %d bytes; not a secrets file", maxSecretsFileBytes)
		return nil
	}
	raw, err := auth.ParseSecretsFile(data)
	if err != nil {
		p.add(varAuthSecretsFile, path, "%v", err) // auth's errors name lines, never secrets
		return nil
	}
	return p.checkSecrets(varAuthSecretsFile, path, raw)
}

// checkSecrets applies the rules common to both sources: at most
// auth.MaxSecrets, none shorter than minSecretBytes, none twice. value is
// shown in errors (a file name) or empty.
func (p *problems) checkSecrets(name, value string, raw [][]byte) []logging.Secret {
	if len(raw) > auth.MaxSecrets {
		p.add(name, value, "%d secrets; at most %d are accepted at once", len(raw), auth.MaxSecrets)
		return nil
	}
	out := make([]logging.Secret, 0, len(raw))
	for i, s := range raw {
		if len(s) < minSecretBytes {
			p.add(name, value, "secret %d is %d bytes; at least %d are required, as anyone holding a "+
				"credential can search for a short secret offline", i+1, len(s), minSecretBytes)
			return nil
		}
		for j := range i {
			if bytes.Equal(raw[j], s) {
				p.add(name, value, "secret %d repeats secret %d", i+1, j+1)
				return nil
			}
		}
		out = append(out, logging.NewSecret(string(s)))
	}
	return out
}

// users parses TURNSTILE_USERS: name:password items. Names may appear in
// errors; passwords never do.
func (p *problems) users(text string) []User {
	var out []User
	for i, item := range p.items(varUsers, text, true) {
		name, password, ok := strings.Cut(item, ":")
		switch {
		case !ok:
			p.addSecret(varUsers, "user %d has no ':' between name and password", i+1)
		case name == "" || len(name) > maxUsernameBytes || !utf8.ValidString(name):
			p.addSecret(varUsers, "user %d: the name must be valid UTF-8 of 1 to %d bytes (RFC 8489 §14.3)",
				i+1, maxUsernameBytes)
		case allDigits(name):
			p.addSecret(varUsers, "user %d (%q): an all-digit name is read as a TURN REST username", i+1, name)
		case password == "" || !printableASCII(password):
			p.addSecret(varUsers, "user %d (%q): the password must be non-empty printable ASCII", i+1, name)
		case containsUser(out, name):
			p.addSecret(varUsers, "user %d (%q) is listed twice", i+1, name)
		default:
			out = append(out, User{Name: name, Password: logging.NewSecret(password)})
		}
	}
	return out
}

func containsUser(users []User, name string) bool {
	for _, u := range users {
		if u.Name == name {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
