package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const secretText = "s3cr3t-shared-key-do-not-print"

// holder is a struct like a configuration: secrets as a field, in a slice and
// in a map.
type holder struct {
	Name    string
	Key     Secret
	Keys    []Secret
	ByUser  map[string]Secret
	Pointer *Secret
	hidden  Secret
	inner   struct{ key Secret }
}

func newHolder() holder {
	s := NewSecret(secretText)
	h := holder{Name: "h", Key: s, Keys: []Secret{s, s}, ByUser: map[string]Secret{"alice": s}, Pointer: &s, hidden: s}
	h.inner.key = s
	return h
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(secretText)
	h := newHolder()
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintln(h), s.String(), s.GoString())

	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))
	keyed, err := json.Marshal(map[Secret]int{s: 1})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(keyed))

	var buf bytes.Buffer
	l := New(&buf, LevelTrace)
	l.Info("secret", "key", s, "holder", h)
	l.LogAttrs(context.Background(), slog.LevelInfo, "attr", slog.Any("s", s), slog.Any("h", &h))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("text", "key", s, "holder", h)
	outputs = append(outputs, buf.String())

	for _, out := range outputs {
		if strings.Contains(out, secretText) || strings.Contains(out, fmt.Sprintf("%x", secretText)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if !strings.Contains(string(js), `"Key":"[redacted]"`) {
		t.Errorf("JSON %s does not show the redaction", js)
	}
	if s.Expose() != secretText || s.Len() != len(secretText) {
		t.Errorf("Expose() = %q, Len() = %d", s.Expose(), s.Len())
	}
	var zero Secret
	if zero.Expose() != "" || zero.Len() != 0 || zero.String() != "[redacted]" {
		t.Errorf("zero Secret: %q, %d, %s", zero.Expose(), zero.Len(), zero)
	}
}
