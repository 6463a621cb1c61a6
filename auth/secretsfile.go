package auth

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxSecretBytes bounds one line of a secrets file. Real secrets are 32 to 64
// random bytes in some text encoding; a longer line is most likely a file
// that is not a secrets file at all.
const MaxSecretBytes = 1024

// ParseSecretsFile parses the contents of a TURN REST secrets file: one
// secret per line, the first being the one new credentials are minted with.
// Surrounding whitespace (including a CR of CRLF line ends) is trimmed; blank
// lines and lines whose first non-blank character is '#' are skipped. The
// file is rejected whole — so a reload keeps the previous secrets — when a
// line is longer than MaxSecretBytes, when a secret appears twice, or when no
// secret or more than MaxSecrets remain. Errors give line numbers, never
// secret text. The returned secrets are fresh copies; data is not retained.
func ParseSecretsFile(data []byte) ([][]byte, error) {
	var secrets [][]byte
	lineNo := 0
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		lineNo++
		if len(line) > MaxSecretBytes {
			return nil, fmt.Errorf("auth: secrets file line %d is longer than %d bytes", lineNo, MaxSecretBytes)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		for i, s := range secrets {
			if bytes.Equal(s, line) {
				return nil, fmt.Errorf("auth: secrets file line %d repeats secret %d", lineNo, i+1)
			}
		}
		if len(secrets) == MaxSecrets {
			return nil, fmt.Errorf("auth: secrets file holds more than %d secrets", MaxSecrets)
		}
		secrets = append(secrets, bytes.Clone(line))
	}
	if len(secrets) == 0 {
		return nil, errors.New("auth: secrets file holds no secret")
	}
	return secrets, nil
}
