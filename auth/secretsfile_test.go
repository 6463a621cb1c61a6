package auth

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseSecretsFile(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []string
		wantErr string // substring; "" means success
	}{
		{"one", "alpha\n", []string{"alpha"}, ""},
		{"no final newline", "alpha", []string{"alpha"}, ""},
		{"order kept", "new\nold\n", []string{"new", "old"}, ""},
		{"comments and blanks", "# minting secret first\n\nnew\n   # indented comment\n\t\nold\n", []string{"new", "old"}, ""},
		{"whitespace trimmed", "  alpha  \n\tbeta\t\n", []string{"alpha", "beta"}, ""},
		{"crlf", "alpha\r\nbeta\r\n", []string{"alpha", "beta"}, ""},
		{"inner space kept", "a b\n", []string{"a b"}, ""},
		{"hash inside kept", "a#b\n", []string{"a#b"}, ""},
		{"longest line", strings.Repeat("s", MaxSecretBytes), []string{strings.Repeat("s", MaxSecretBytes)}, ""},
		{"max secrets", numberedSecrets(MaxSecrets), strings.Fields(numberedSecrets(MaxSecrets)), ""},
		{"empty file", "", nil, "no secret"},
		{"only comments", "# a\n\n#b\n", nil, "no secret"},
		{"over-long line", "ok\n" + strings.Repeat("s", MaxSecretBytes+1) + "\n", nil, "line 2 is longer"},
		{"over-long comment", "ok\n#" + strings.Repeat("s", MaxSecretBytes) + "\n", nil, "line 2 is longer"},
		{"duplicate", "a\nb\n a \n", nil, "line 3 repeats secret 1"},
		{"too many", numberedSecrets(MaxSecrets + 1), nil, "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSecretsFile([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("secrets returned with an error: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d secrets %q, want %q", len(got), got, tc.want)
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Errorf("secret %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// Errors must not reveal secret text.
func TestParseSecretsFileErrorsHideSecrets(t *testing.T) {
	for _, data := range []string{"hunter2\nhunter2\n", "hunter2\n" + strings.Repeat("hunter2", 200)} {
		_, err := ParseSecretsFile([]byte(data))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %v for a broken file leaks or is missing", err)
		}
	}
}

// The result must not alias the input buffer.
func TestParseSecretsFileCopies(t *testing.T) {
	data := []byte("alpha\n")
	got, err := ParseSecretsFile(data)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXX")
	if string(got[0]) != "alpha" {
		t.Fatalf("secret aliases the input: %q", got[0])
	}
}

func numberedSecrets(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "secret-%d\n", i)
	}
	return b.String()
}
